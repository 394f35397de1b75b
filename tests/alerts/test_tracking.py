"""Exactly-once effect on the alerts state: what comes again after a crash — a work message the
state already holds, a source record the restarted router routes again, a forward sent again, a
posting the ledger publishes again — changes nothing (`Engine._unseen`, `Indicator.booked`)."""

from __future__ import annotations

import msgspec

from services.alerts import facts as f
from services.alerts.config import RuleConfigs
from services.alerts.engine import Engine, PartitionClock, encode_state, partition_of
from services.alerts.entities import Indicator
from tests.alerts.builders import posting
from tests.alerts.harness import Harness

PARTITIONS = 4
INDICATOR = "IND-410324-7"
KEY = f"I:{INDICATOR}"


def engine() -> Engine:
    return Engine(RuleConfigs(), PARTITIONS, ledger_partitions=0)


def booked(seq: int, paid: int, src: tuple[str, int] | None = None) -> f.PostingBooked:
    p = posting(seq, "payment.made", "2026-05-10", [("5201", "500201", paid)], indicator_id=INDICATOR,
                subject=f"ZF{seq}")
    return f.PostingBooked(key=KEY, posting=p, src=src)


def apply(e: Engine, store: dict, work: f.Work, offset: int | None = None):
    out = e.process(partition_of(KEY, PARTITIONS), store, work, offset)
    store.update(out.dirty)
    return out


def waiting(store: dict) -> list[int]:
    """The journal sequences of the postings the indicator holds (not yet in time order: no ledger watermark)."""
    return [p.seq for day in store[KEY].pending_days for p in store[f"Q:{KEY}:{day}"]]


def test_a_work_message_the_state_already_holds_is_skipped_whole():
    e, store = engine(), {}
    apply(e, store, f.Work(facts=[booked(1, 500)]), offset=10)
    out = apply(e, store, f.Work(facts=[booked(2, 100)]), offset=10)  # the same offset again
    assert (out.redelivered, out.dirty, out.transitions, out.forwards) == (1, {}, [], {})
    assert waiting(store) == [1]
    apply(e, store, f.Work(facts=[booked(3, 700)]), offset=11)
    assert waiting(store) == [1, 3]


def test_a_record_routed_again_by_a_restarted_router_is_dropped():
    e, store = engine(), {}
    apply(e, store, f.Work(facts=[booked(1, 500, ("ledger:3", 41)), booked(2, 900, ("ledger:3", 42))]), offset=0)
    # the router restarts from its commit before 41: 41 and 42 come again, 43 is new
    out = apply(e, store, f.Work(facts=[booked(1, 500, ("ledger:3", 41)), booked(2, 900, ("ledger:3", 42)),
                                        booked(3, 950, ("ledger:3", 43))]), offset=1)
    assert out.redelivered == 2
    assert waiting(store) == [1, 2, 3]
    # another source partition has its own positions
    out = apply(e, store, f.Work(facts=[booked(4, 960, ("ledger:4", 5))]), offset=2)
    assert out.redelivered == 0 and waiting(store) == [1, 2, 3, 4]


def test_a_forward_sent_again_is_dropped():
    e, store = engine(), {}
    apply(e, store, f.Work(facts=[booked(1, 500)], origin=(2, 7)), offset=0)
    out = apply(e, store, f.Work(facts=[booked(2, 100)], origin=(2, 7)), offset=1)  # its origin processed again
    assert out.redelivered == 1 and waiting(store) == [1]
    out = apply(e, store, f.Work(facts=[booked(2, 100)], origin=(3, 7)), offset=2)  # another origin partition
    assert out.redelivered == 0 and waiting(store) == [1, 2]


def test_offline_messages_are_not_tracked():
    e, store = engine(), {}
    apply(e, store, f.Work(facts=[booked(1, 500)]))
    assert not any(k.endswith(":track") for k in store)


def test_a_posting_published_again_is_taken_once():
    """The ledger's relay may publish a posting again (a new record, so no source position catches it):
    its journal sequence does, and the books count it once."""
    e, store = engine(), {}
    apply(e, store, f.Work(facts=[booked(1, 500), booked(2, 300), booked(1, 500)]))
    assert waiting(store) == [1, 2]


# ------------------------------------------------------------------ postings waiting, one state key per day


def test_waiting_postings_are_kept_per_day_beside_the_indicator():
    """A posting waits for the ledger's watermark in its day's key (`Q:I:<id>:<day>`): an indicator with a
    year of postings waiting is not read and written whole with each of them."""
    e, store = engine(), {}
    apply(e, store, f.Work(facts=[booked(1, 500)]))
    alone = len(encode_state(store[KEY]))
    late = [f.PostingBooked(key=KEY, posting=posting(seq, "payment.made", "2026-05-11", [("5201", "500201", 10)],
                                                     indicator_id=INDICATOR, subject=f"ZF{seq}"))
            for seq in range(2, 202)]
    out = apply(e, store, f.Work(facts=late))
    assert sorted(k for k in out.dirty if k.startswith("Q:")) == [f"Q:{KEY}:2026-05-11"]
    assert store[KEY].pending_days == ["2026-05-10", "2026-05-11"]
    assert sorted(waiting(store)) == list(range(1, 202))  # same time: in source event id order
    assert len(encode_state(store[KEY])) - alone < 200  # a day and the 32 recent sequences, not 200 postings


def test_settled_days_are_deleted_and_taken_in_time_order():
    """Once the watermark passes them the postings are booked in the order they happened, across days, and
    their day keys are deleted (None: a tombstone on the state topic)."""
    h = Harness()
    later = posting(3, "payment.made", "2026-03-02", [("5201", "500201", 30_000_00)], indicator_id=INDICATOR,
                    subject="ZF3", at="2026-03-02T09:00:00+08:00")
    earlier = posting(2, "indicator.allocated", "2026-02-10", [("500201", "5001", 100_000_00)],
                      indicator_id=INDICATOR, subject="FP-2")
    e = h.engine
    p = partition_of(KEY, h.partitions)
    first = e.process(p, h.store, f.Work(facts=[f.PostingBooked(key=KEY, posting=later),
                                                f.PostingBooked(key=KEY, posting=earlier)]))
    h.store.update(first.dirty)
    assert h.store[KEY].pending_days == ["2026-02-10", "2026-03-02"] and h.store[KEY].pending_head == earlier.at_key
    clock = f"G{p}:clock"
    h.store[clock] = PartitionClock(marks={"ledger": "2026-03-03T00:00:00"})
    out = e.process(p, h.store, f.Work(facts=[f.PostingBooked(key=KEY, posting=posting(
        4, "payment.made", "2026-03-02", [("5201", "500201", 10)], indicator_id=INDICATOR, subject="ZF4"))]))
    h.store.update(out.dirty)
    assert {k: v for k, v in out.dirty.items() if k.startswith("Q:")} == {
        f"Q:{KEY}:2026-02-10": None, f"Q:{KEY}:2026-03-02": None}
    state = h.store[KEY]
    assert (state.pending_days, state.pending_head) == ([], "")
    assert state.last.seq == 4 and state.books["500201"] == 100_000_00 - 30_000_00 - 10  # allocated, then paid


def test_a_state_from_before_the_day_keys_is_moved_to_them():
    """An indicator written by an earlier version holds its waiting postings in `pending`: they move to the
    day keys with its next fact, and nothing is lost or doubled."""
    old = Indicator(ident=KEY, pending=[booked(1, 500).posting, booked(2, 300).posting])
    store = {KEY: msgspec.msgpack.encode(old)}
    e = engine()
    apply(e, store, f.Work(facts=[booked(3, 100), booked(2, 300)]))
    assert store[KEY].pending == [] and waiting(store) == [1, 2, 3]


def test_a_state_from_before_the_day_keys_is_moved_even_by_a_repeat():
    old = Indicator(ident=KEY, pending=[booked(1, 500).posting], seqs=[1])
    store = {KEY: msgspec.msgpack.encode(old)}
    apply(engine(), store, f.Work(facts=[booked(1, 500)]))  # known already: only the move is written
    assert store[KEY].pending == [] and waiting(store) == [1]
