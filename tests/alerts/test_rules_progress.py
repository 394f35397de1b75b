"""Disbursement progress rules (拨付进度), PRG-01 … PRG-06: what each rule finds (rule id, subject, region,
the evidence's key facts) and the near misses that must stay quiet.

The checkpoint rules look at an indicator's books as they stood on the checkpoint's day, in the order
the events happened; the books come from the ledger's postings (`ledger.posting_applied`, written here
as the ledger publishes them). Everything runs through the in-memory engine (tests/alerts/harness.py);
`flush()` is the end of the input, so a checkpoint is reached when nothing more arrives for the
indicator — other counties' records (`clock`) move time on."""

from __future__ import annotations

import datetime as dt

from services.alerts.rules import progress as prg
from tests import factories as wire
from tests.alerts.builders import at, clock, key_facts, pay, run
from tests.alerts.harness import Harness, engine
from tests.alerts.harness import raised as of

COUNTY, ELSEWHERE = "410324", "411624"
IND = "IND-410324-1"
MILLION = "1000000.00"


def received(amount: str = MILLION, on: str = "2026-02-02", **extra) -> dict:
    data = {"source": "upper_transfer", "upper_indicator_id": "XD-1", "upper_region": "410300",
            "doc_scan_ref": "oss://scan.pdf", "registered_on": on, "doc_no": "洛财农〔2026〕12号", "doc_date": on,
            **extra}
    e = wire.registered(IND, amount, **data)
    e["time"] = at(on)
    return e


def posting(seq: int, kind: str, on: str, moves: list[tuple], subject: str | None = None) -> dict:
    """`ledger.posting_applied` as the ledger publishes it (moves: debit, credit, yuan). Its time is the
    source event's: the books settle once the input has reached it."""
    return wire.event("ledger.posting_applied", {
        "posting_id": f"{IND}:{seq}", "journal_seq": seq, "source_event_id": f"src-{seq}",
        "source_event_type": kind, "source_subject": subject, "indicator_id": IND, "booked_on": on,
        "red_ink": False, "balances": {},
        "moves": [{"debit": d, "credit": c, "amount": a} for d, c, a in moves]}, COUNTY, id=f"ledger:{seq}",
        time=at(on))


def books(*, allocated: str = MILLION, paid: tuple[tuple[str, str], ...] = (), total: str = MILLION,
          allocated_on: str = "2026-02-04") -> list[dict]:
    """An indicator received on 2 February, allocated to own spending on `allocated_on`, paid (day, yuan) …"""
    out = [received(total),
           posting(1, "indicator.registered", "2026-02-02", [("1001", "4001", total), ("5001", "1001", total)]),
           posting(2, "indicator.allocated", allocated_on, [("500201", "5001", allocated)], "FP-1")]
    for n, (day, amount) in enumerate(paid, start=3):
        out.append(posting(n, "payment.made", day, [("5201", "500201", amount)], f"ZF{n}"))
    return out


def found(h: Harness, rule: str) -> list[tuple[str, str, str]]:
    return [(t.subject, t.region, t.at[:10]) for t in of(h, rule)]


# ------------------------------------------------------------------ PRG-01 behind schedule at 06-30 / 09-30
# received 2 February: on 30 June 148 of 332 days have passed (44.6 %); 0.4 × that = 17.8 % must be spent


def test_prg01_positive():
    h = engine(books(paid=(("2026-05-20", "50000.00"),)), [clock("2026-07-01")])
    assert found(h, "PRG-01") == [(f"indicator/{IND}/checkpoint/06-30", COUNTY, "2026-06-30")]
    (t,) = of(h, "PRG-01")
    assert t.level == "yellow" and "spent 5.0% of 1000000.00 yuan, below 17.8%" in t.findings
    facts = key_facts(t)
    assert facts["indicator_id"] == IND and facts["balance_5201"] == "50000.00" and facts["balance_4001"] == MILLION


def test_prg01_judges_the_books_as_they_stood_on_the_checkpoint():
    """A payment of 5 July does not count for 30 June; by 30 September it does (240 of 332 days: 28.9 % due)."""
    h = engine(books(paid=(("2026-07-05", "300000.00"),)), [clock("2026-10-01")])
    assert found(h, "PRG-01") == [(f"indicator/{IND}/checkpoint/06-30", COUNTY, "2026-06-30")]


def test_prg01_negative():
    h = engine(books(paid=(("2026-05-20", "200000.00"), ("2026-09-01", "100000.00"))), [clock("2026-10-01")])
    assert of(h, "PRG-01") == []  # 20 % by 30 June, 30 % by 30 September
    small = engine(books(total="90000.00", allocated="90000.00"), [clock("2026-10-01")])
    assert of(small, "PRG-01") == []  # below min_amount (100,000)
    young = run(prg.prg01_behind_schedule, IND, COUNTY, dt.date(2026, 5, 15), dt.date(2026, 6, 30),
                {"4001": 100_000_000}, year=2026)
    assert young == []  # received 46 days before the checkpoint: younger than min_age_days (60)


# ------------------------------------------------------------------ PRG-02 idle funds (120 days without a payment)


def test_prg02_positive():
    """Allocated on 4 February, never paid: idle on 4 June, found when nothing more arrives."""
    h = engine(books(), [clock("2026-06-10")])
    assert found(h, "PRG-02") == [(f"indicator/{IND}/idle", COUNTY, "2026-06-04")]
    (t,) = of(h, "PRG-02")
    assert "1000000.00 yuan allocated but no payment since 2026-02-04 (120 days)" in t.findings
    assert key_facts(t)["indicator_id"] == IND and key_facts(t)["balance_500201"] == MILLION


def test_prg02_counts_from_the_last_payment():
    h = engine(books(paid=(("2026-05-01", "100000.00"),)), [clock("2026-09-01")])
    assert found(h, "PRG-02") == [(f"indicator/{IND}/idle", COUNTY, "2026-08-29")]
    assert "900000.00 yuan allocated but no payment since 2026-05-01" in of(h, "PRG-02")[0].findings


def test_prg02_negative():
    h = engine(books(paid=(("2026-05-01", "100000.00"),)), [clock("2026-08-28")])
    assert of(h, "PRG-02") == []  # 119 days since the last payment
    spent = engine(books(paid=(("2026-03-01", "950000.00"),)), [clock("2026-12-31")])
    assert of(spent, "PRG-02") == []  # 50,000 left: below min_amount


# ------------------------------------------------------------------ PRG-03 unspent at year end (12-15)


def test_prg03_positive():
    h = engine(books(paid=(("2026-06-01", "500000.00"),)), [clock("2026-12-16")])
    assert found(h, "PRG-03") == [(f"indicator/{IND}/year-end", COUNTY, "2026-12-15")]
    (t,) = of(h, "PRG-03")
    assert "500000.00 of 1000000.00 yuan (50.0%) unspent" in t.findings
    assert key_facts(t)["balance_5201"] == "500000.00"


def test_prg03_negative():
    h = engine(books(paid=(("2026-06-01", "500000.00"), ("2026-12-10", "250000.00"))), [clock("2026-12-16")])
    assert of(h, "PRG-03") == []  # 25 % unspent
    not_yet = engine(books(paid=(("2026-06-01", "500000.00"),)), [clock("2026-12-15")])
    assert of(not_yet, "PRG-03") == []  # the checkpoint's day is not over yet


# ------------------------------------------------------------------ PRG-04 money into a fiscal special account


def special_account(number: str = "6222020200118888", kind: str = "special") -> dict:
    return wire.event("account.registered", {"account": number, "holder_name": "栾川县某合作社", "kind": kind,
                                             "unit_code": "410324900"}, COUNTY, time=at("2026-01-05"))


def test_prg04_positive():
    h = engine([special_account(), wire.payment("ZF4", IND, "300000.00")])
    (t,) = of(h, "PRG-04")
    assert (t.subject, t.region) == ("payment/ZF4", COUNTY)
    facts = key_facts(t)
    assert facts["payment_id"] == "ZF4" and facts["amount"] == "300000.00"
    assert facts["payee_account"] == "6222********8888"
    registered_later = Harness()  # the registration arrives after the payment: judged when it arrives
    registered_later.feed([wire.payment("ZF4", IND, "300000.00")])
    registered_later.feed([special_account()])
    registered_later.flush()
    assert [t.subject for t in of(registered_later, "PRG-04")] == ["payment/ZF4"]


def test_prg04_negative():
    """A payment out of the special account's own channel, into an ordinary unit account, or not valid."""
    assert of(engine([special_account(), wire.payment("ZF4", IND, "1.00", channel="special_account")]), "PRG-04") == []
    assert of(engine([special_account(kind="unit"), wire.payment("ZF4", IND, "1.00")]), "PRG-04") == []
    assert run(prg.prg04_special_account, pay(valid=False), "special") == []


# ------------------------------------------------------------------ PRG-05 funds held up (unallocated 60 days)


def test_prg05_positive():
    """Half of it still unallocated 60 days after receipt (3 April), found when nothing more arrives."""
    h = engine(books(allocated="500000.00"), [clock("2026-04-10")])
    assert found(h, "PRG-05") == [(f"indicator/{IND}/held", COUNTY, "2026-04-03")]
    (t,) = of(h, "PRG-05")
    assert "500000.00 yuan (50.0%) still unallocated 60 days after receipt on 2026-02-02" in t.findings
    assert key_facts(t)["balance_5001"] == "500000.00"


def test_prg05_negative():
    assert of(engine(books(allocated="950000.00"), [clock("2026-04-10")]), "PRG-05") == []  # 5 % left
    assert of(engine(books(allocated="500000.00"), [clock("2026-04-02")]), "PRG-05") == []  # day 59
    rest = posting(9, "indicator.allocated", "2026-03-20", [("500201", "5001", "700000.00")], "FP-2")
    later = engine([*books(allocated="300000.00"), rest], [clock("2026-04-10")])
    assert of(later, "PRG-05") == []  # allocated in full before the 60 days were up


# ------------------------------------------------------------------ PRG-06 year-end surge (from 11-15)


def test_prg06_positive():
    h = engine(books(paid=(("2026-06-01", "200000.00"), ("2026-11-20", "600000.00"))), [clock("2026-12-01")])
    assert found(h, "PRG-06") == [(f"indicator/{IND}/surge", COUNTY, "2026-11-20")]
    (t,) = of(h, "PRG-06")
    assert "600000.00 of 800000.00 yuan (75.0%) paid since 11-15" in t.findings
    assert key_facts(t)["indicator_id"] == IND


def test_prg06_negative():
    h = engine(books(paid=(("2026-06-01", "700000.00"), ("2026-11-20", "200000.00"))), [clock("2026-12-31")])
    assert of(h, "PRG-06") == []  # 22 % of the year's payments in the window
    # all of it in the window, but 90,000 yuan: below min_amount
    assert run(prg.prg06_surge, IND, COUNTY, dt.date(2026, 11, 20), 9_000_000, 9_000_000) == []
