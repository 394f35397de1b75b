"""Exactly-once effect on the alerts state: what comes again after a crash — a work message the
state already holds, a source record the restarted router routes again, a forward sent again, a
posting the ledger publishes again — changes nothing (`Engine._unseen`, `entities._apply_posting`)."""

from __future__ import annotations

from services.alerts.clock import ClockMode
from services.alerts.config import RuleConfigs
from services.alerts.engine import Engine
from services.alerts.model import Posting
from services.alerts.routing import partition_of
from tests import factories as f
from tests.alerts.builders import posting
from tests.alerts.harness import Harness

PARTITIONS = 4
INDICATOR = "IND-410324-7"


def engine() -> Engine:
    return Engine(RuleConfigs(), ClockMode.event, PARTITIONS, reference_partitions=1)


def post_fact(seq: int | None, paid: str, on: str = "2026-05-10") -> dict:
    balances = {"4001": 100000000, "500201": 100000000 - int(paid), "5201": int(paid)}
    wire = Posting(f"ledger:e{seq}", "410324", f"{on}T12:00:00+08:00", INDICATOR, "payment.made", on, balances,
                   0, int(paid), False, seq).to_wire()
    return {"k": f"I:{INDICATOR}", "f": "post", "post": wire, "ro": 0.0}


def apply(e: Engine, store: dict, message: dict, offset: int | None = None):
    p = partition_of(f"I:{INDICATOR}", PARTITIONS)
    out = e.process(p, store, message, offset)
    store.update(out.dirty)
    return out


def balances(store: dict) -> dict:
    return store[f"I:{INDICATOR}"]["bal"]


def test_a_work_message_the_state_already_holds_is_skipped_whole():
    e, store = engine(), {}
    apply(e, store, {"facts": [post_fact(None, "500")]}, offset=10)
    out = apply(e, store, {"facts": [post_fact(None, "100")]}, offset=10)  # the same offset again
    assert (out.redelivered, out.dirty, out.transitions, out.forwards) == (1, {}, [], {})
    assert balances(store)["5201"] == 500
    apply(e, store, {"facts": [post_fact(None, "700")]}, offset=11)
    assert balances(store)["5201"] == 700


def test_a_record_routed_again_by_a_restarted_router_is_dropped():
    e, store = engine(), {}
    first, second = post_fact(None, "500"), post_fact(None, "900")
    apply(e, store, {"facts": [{**first, "s": ["ledger:3", 41]}, {**second, "s": ["ledger:3", 42]}]}, offset=0)
    # the router restarts from its commit before 41: 41 and 42 come again, 43 is new
    third = post_fact(None, "950")
    out = apply(e, store, {"facts": [{**first, "s": ["ledger:3", 41]}, {**second, "s": ["ledger:3", 42]},
                                     {**third, "s": ["ledger:3", 43]}]}, offset=1)
    assert out.redelivered == 2
    assert balances(store)["5201"] == 950
    # another source partition has its own positions
    out = apply(e, store, {"facts": [{**post_fact(None, "960"), "s": ["ledger:4", 5]}]}, offset=2)
    assert out.redelivered == 0 and balances(store)["5201"] == 960
    assert "s" not in store[f"I:{INDICATOR}"]["last_post"]


def test_a_forward_sent_again_is_dropped():
    e, store = engine(), {}
    apply(e, store, {"facts": [post_fact(None, "500")], "from": [2, 7]}, offset=0)
    out = apply(e, store, {"facts": [post_fact(None, "100")], "from": [2, 7]}, offset=1)  # its origin processed again
    assert out.redelivered == 1 and balances(store)["5201"] == 500
    out = apply(e, store, {"facts": [post_fact(None, "100")], "from": [3, 7]}, offset=2)  # another origin partition
    assert out.redelivered == 0 and balances(store)["5201"] == 100


def test_offline_messages_are_not_tracked():
    e, store = engine(), {}
    apply(e, store, {"facts": [post_fact(None, "500")]})
    assert not any(k.endswith(":track") for k in store)


def test_a_posting_published_again_does_not_turn_the_books_back():
    """The ledger's outbox may publish a posting again after newer ones of the same indicator (a
    new record, so no source position catches it): its journal sequence does. Without it, the
    May balance (nothing paid) would stand at the 06-30 checkpoint — a false PRG-01."""
    reg = f.registered(INDICATOR, "1000000.00", source="upper_transfer", upper_indicator_id="XD-7",
                       upper_region="410300", doc_scan_ref="oss://x.pdf")
    reg["data"]["registered_on"], reg["time"] = "2026-02-02", "2026-02-02T10:00:00+08:00"
    allocated = posting(2, INDICATOR, "indicator.allocated", "2026-02-04",
                        {"4001": "1000000.00", "500201": "1000000.00"}, [("500201", "5001", "1000000.00")])
    paid = posting(3, INDICATOR, "payment.made", "2026-05-10",
                   {"4001": "1000000.00", "500201": "300000.00", "5201": "700000.00"}, [("5201", "500201", "700000.00")])
    other = posting(4, "IND-410324-8", "indicator.allocated", "2026-07-03",
                    {"4001": "10.00", "500201": "10.00"}, [("500201", "5001", "10.00")])
    clean, again = Harness(), Harness()
    clean.feed([reg, allocated, paid, other], batch=1)
    again.feed([reg, allocated, paid, allocated, other], batch=1)  # the allocation published again after the payment
    for h in (clean, again):
        assert [t for t in h.transitions if t.rule_id == "PRG-01"] == []
        assert h.store[f"I:{INDICATOR}"]["bal"]["5201"] == 70000000
