"""The ledger's derived stream (contracts/ledger.py), written to the outbox in the projection's
transaction and relayed after commit.

Events are encoded straight to their wire form: building them through `make_event` (full
pydantic validation) costs ~60 µs each on the project machines, more than the whole per-event
budget of a 20,000 events/s replay. tests/ledger/test_derived.py proves, for every derived
type, that this encoding parses with `contracts.parse_event` to exactly the event `make_event`
builds. Ids are deterministic (`ledger:<posting id>` …): a redelivered or replayed input
produces the same ids, and consumers dedupe by id."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from contracts.types import fiscal_unit
from services.ledger.interlock import Interlock
from services.ledger.postings import Posting
from services.runtime.projection import Outgoing

SOURCE = "fundwatch/ledger"


def derived_id(*parts: str) -> str:
    """`ledger:<parts>`; the parts are contract identifiers and codes (their patterns are inside the
    Identifier charset), so only the length can make it invalid: then a hash stands in."""
    raw = "ledger:" + ":".join(parts)
    if len(raw) <= 100:
        return raw
    return "ledger:h:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def yuan(fen: int) -> str:
    """Fen → the wire form of yuan ('-12.05'), as `str(from_fen(fen))` but without Decimal."""
    units, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{units}.{cents:02d}"


def _s(value: str | None) -> str:
    """A JSON string of an identifier-like value (contract patterns exclude quotes, backslashes
    and control characters, so no escaping is needed)."""
    return "null" if value is None else f'"{value}"'


def _event(topic: str, event_type: str, event_id: str, region: str, time: dt.datetime, subject: str | None,
           data: dict[str, Any]) -> Outgoing:
    body = {"specversion": "1.0", "id": event_id, "source": SOURCE, "type": event_type, "time": time.isoformat(),
            "subject": subject, "region": region, "datacontenttype": "application/json", "data": data}
    value = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Outgoing(topic=topic, key=fiscal_unit(region).encode(), value=value)


def posting_applied(topic: str, posting: Posting, *, journal_seq: int, region: str, fund_code: str | None, budget_year: int | None,
                    source_event_id: str, source_event_type: str, time_iso: str,
                    balances: Mapping[str, int], source_subject: str | None = None) -> Outgoing:
    """`ledger.posting_applied`: the posting and the indicator's natural-side balances after it.
    The hot path of the derived stream (one per posting), so rendered by hand: every string in it
    is an identifier, a code or a date (see `_s`)."""
    reverses = posting.reverses.rsplit(":", 1)[0] if posting.reverses else None
    pid = posting.posting_id
    moves = ",".join(f'{{"debit":"{m.debit}","credit":"{m.credit}","amount":"{yuan(m.fen)}",'
                     f'"project_code":{_s(m.project_code)}}}' for m in posting.moves)
    bal = ",".join(f'"{a}":"{yuan(v)}"' for a, v in balances.items())
    value = (
        f'{{"specversion":"1.0","id":"{derived_id(pid)}","source":"{SOURCE}",'
        f'"type":"ledger.posting_applied","time":"{time_iso}","subject":{_s(posting.indicator_id)},'
        f'"region":"{region}","datacontenttype":"application/json","data":{{'
        f'"posting_id":"{pid}","journal_seq":{journal_seq},"source_event_id":"{source_event_id}",'
        f'"source_event_type":"{source_event_type}","source_subject":{_s(source_subject)},'
        f'"indicator_id":"{posting.indicator_id}",'
        f'"fund_code":{_s(fund_code)},"budget_year":{"null" if budget_year is None else budget_year},'
        f'"booked_on":"{posting.booked_on.isoformat()}","red_ink":{"true" if posting.red_ink else "false"},'
        f'"reverses_event_id":{_s(reverses)},"moves":[{moves}],"balances":{{{bal}}}}}}}'
    )
    return Outgoing(topic=topic, key=region[:6].encode(), value=value.encode())


def interlock_checked(topic: str, transfer: Mapping[str, Any], state: Interlock, receipt_ids: list[str], *,
                      source_event_id: str, time: dt.datetime) -> Outgoing:
    """`ledger.interlock_checked`: issued vs received vs in transit of one upper transfer (咬合)."""
    region = transfer["to_region"]
    first = transfer.get("first_received_on")
    issued_on = transfer.get("issued_on")
    data = {
        "transfer_indicator_id": transfer["transfer_id"], "issuer_region": transfer.get("issuer_region"),
        "receiver_region": region, "fund_code": transfer.get("fund_code"),
        "issued": yuan(state.issued_fen), "received": yuan(state.received_fen), "in_transit": yuan(state.in_transit_fen),
        "state": state.state.value, "receipt_indicator_ids": sorted(receipt_ids),
        "issued_on": issued_on.isoformat() if issued_on else None, "first_received_on": first.isoformat() if first else None,
    }
    return _event(topic, "ledger.interlock_checked", derived_id("interlock", transfer["transfer_id"], source_event_id),
                  region, time, transfer["transfer_id"], data)


def balance_exceeded(topic: str, kind: str, *, source_event_id: str, time: dt.datetime, region: str, indicator_id: str,
                     fund_code: str | None, amount_fen: int, available_fen: int, payment_id: str | None = None,
                     allocation_id: str | None = None) -> Outgoing:
    """`ledger.balance_exceeded`: recorded anyway (the monitor mirrors upstream facts)."""
    data = {"kind": kind, "source_event_id": source_event_id, "indicator_id": indicator_id, "fund_code": fund_code,
            "amount": yuan(amount_fen), "available": yuan(available_fen), "payment_id": payment_id,
            "allocation_id": allocation_id}
    return _event(topic, "ledger.balance_exceeded", derived_id("exceeded", source_event_id), region, time,
                  payment_id or allocation_id or indicator_id, data)


def fund_link_conflict(topic: str, *, fund_code: str, upper_fund_codes: list[str], source_event_id: str, region: str,
                       time: dt.datetime) -> Outgoing:
    """`ledger.fund_link_conflict`: a local fund linked to a second upper fund (IND-07)."""
    data = {"fund_code": fund_code, "upper_fund_codes": upper_fund_codes, "source_event_id": source_event_id}
    return _event(topic, "ledger.fund_link_conflict", derived_id("fund-link", fund_code, source_event_id), region,
                  time, fund_code, data)


def partition_keys(partitions: int) -> list[bytes]:
    """A key per partition of an n-partition topic (the default partitioner, murmur2 as the Java
    client, puts key i on partition i): markers must land on every partition, and the outbox keeps
    only keys."""
    from aiokafka.partitioner import murmur2

    keys: dict[int, bytes] = {}
    n = 0
    while len(keys) < partitions:
        key = f"ledger-progress-{n}".encode()
        keys.setdefault((murmur2(key) & 0x7FFFFFFF) % partitions, key)
        n += 1
    return [keys[q] for q in range(partitions)]


class ProgressMarkers:
    """`ledger.progress` on every ledger partition after a batch's postings (same transaction, later
    outbox rows, so a reader of partition q has read q's postings of the input before `positions`)."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.topic = topic
        self.keys = partition_keys(partitions)
        self.seq = 0

    def __call__(self, positions: Mapping[tuple[str, int], int], newest: Mapping[tuple[str, int], dt.datetime]
                 ) -> list[Outgoing]:
        self.seq += 1
        now = dt.datetime.now(dt.UTC)
        stamp = f"{now:%Y%m%d%H%M%S%f}-{self.seq}"
        pos = {f"{t}:{p}": o for (t, p), o in sorted(positions.items())}
        new = {f"{t}:{p}": v.isoformat() for (t, p), v in sorted(newest.items())}
        out = []
        for q, key in enumerate(self.keys):
            data = {"positions": pos, "newest": new, "partition": q}
            out.append(Outgoing(self.topic, key, json.dumps(
                {"specversion": "1.0", "id": f"ledger:progress:{stamp}:{q}", "source": SOURCE,
                 "type": "ledger.progress", "time": now.isoformat(), "subject": None, "region": "000000",
                 "datacontenttype": "application/json", "data": data}, separators=(",", ":")).encode()))
        return out
