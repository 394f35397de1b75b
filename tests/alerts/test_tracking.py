"""Exactly-once effect on the alerts state: what comes again after a crash — a work message the
state already holds, a source record the restarted router routes again, a forward sent again, a
posting the ledger publishes again — changes nothing (`Engine._unseen`, `Indicator.booked`)."""

from __future__ import annotations

from services.alerts import facts as f
from services.alerts.config import RuleConfigs
from services.alerts.engine import Engine, partition_of
from tests.alerts.builders import posting

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
    return [p.seq for p in store[KEY].pending]


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
