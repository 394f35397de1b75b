"""What every entity shares: the context of one message, parking, deadline items, dispatch.

An entity is the state the rules need about one thing (a person, an account …), kept as a
msgspec Struct in the worker's state. It has one handler per fact kind (`HANDLERS`, keyed by
the fact's class), and `on_time`, called when a watermark it waits for has moved.

Parking: a check that needs another source to be complete — "is this person in the registry?"
can only be answered "no" once the registry has been read past the payment (watermarks.py) —
parks its fact until that source's watermark has passed the fact's event time, then decides.
Checks that find something positive (a deed-tax record, a frozen account on the payment's date)
decide at once and are made again when the record they look for arrives later, so the result
does not depend on which came first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

from services.alerts import facts as f
from services.alerts.clock import Now, day_key, event_key
from services.alerts.deadlines import DeadlineItem, complete, tick
from services.alerts.findings import Evidence
from services.alerts.model import Fund
from services.alerts.rules.registry import Rules

HISTORY = 20  # payments kept per person / enterprise / project for checks on records that arrive later
RECENT_DAYS = 31  # payee payments kept per account (USE-05 / USE-06 windows)
RECENT_MAX = 60


@dataclass
class Ctx:
    """What an entity may use while it handles one fact: the rules, the broadcast reference data,
    the watermarks, and a place for the facts it derives for other entities."""

    rules: Rules
    funds: Mapping[str, Fund]
    imeta: Callable[[str], f.IndicatorKnown | None]
    now: Now
    derived: list[f.Fact] = field(default_factory=list)
    state: Any = None  # the message's view of the state (`get`, `put`): for an entity's own side keys (`Q:`)

    def fund_of_indicator(self, indicator_id: str) -> Fund | None:
        meta = self.imeta(indicator_id)
        return self.funds.get(meta.fund) if meta else None

    def complete_up_to(self, family: str, event_time: str) -> bool:
        """Has `family` arrived in full up to `event_time` (so an absence there is final)?"""
        return self.now.reached(family, event_key(event_time))


class Parked(msgspec.Struct, frozen=True, array_like=True):
    """A fact waiting until `family` is complete up to `until` (a comparable moment, clock.key)."""

    family: str
    until: str
    fact: f.AnyFact


class Entity(msgspec.Struct, kw_only=True):
    ident: str = ""  # the entity's key (P:…, A:…, …)
    parked: list[Parked] = msgspec.field(default_factory=list)
    deadlines: dict[str, DeadlineItem] = msgspec.field(default_factory=dict)

    HANDLERS: ClassVar[Mapping[type, Callable[..., bool]]] = {}

    def handle(self, key: str, fact: f.Fact, ctx: Ctx) -> bool:
        """Apply one fact; True when the state changed."""
        handler = self.HANDLERS.get(type(fact))
        return bool(handler(self, key, fact, ctx)) if handler is not None else False

    # ------------------------------------------------------------------ parking

    def park(self, family: str, event_time: str, fact: f.Fact) -> None:
        self.parked.append(Parked(family, event_key(event_time), fact))  # type: ignore[arg-type]
        self.parked.sort(key=lambda x: x.until)

    def release(self, key: str, ctx: Ctx, force: Callable[[Parked], bool] | None = None) -> bool:
        """Decide the parked facts whose family is now complete (or that `force` says may go), oldest first."""
        ready = [x for x in self.parked if ctx.now.reached(x.family, x.until) or (force is not None and force(x))]
        if not ready:
            return False
        self.parked = [x for x in self.parked if x not in ready]
        for x in ready:
            self.decide(key, x.fact, ctx)
        return True

    def decide(self, key: str, fact: f.Fact, ctx: Ctx) -> None:
        """A parked fact's family is complete: make the check it waited for."""

    # ------------------------------------------------------------------ deadlines (黄色警铃)

    def open_deadline(self, name: str, item: DeadlineItem | None) -> None:
        if item is not None and name not in self.deadlines:
            self.deadlines[name] = item

    def complete_deadline(self, name: str, on: dt.date, ctx: Ctx, ev: tuple[Evidence, ...] = ()) -> None:
        item = self.deadlines.get(name)
        if item is None:
            return
        self.deadlines[name], found = complete(item, on, ev)
        ctx.rules.add(found)

    def tick_deadlines(self, ctx: Ctx) -> bool:
        changed = False
        for name, item in list(self.deadlines.items()):
            new, found = tick(item, ctx.now.at(item.family))
            if new != item:
                self.deadlines[name] = new
                ctx.rules.add(found)
                changed = True
        return changed

    # ------------------------------------------------------------------ time

    def on_time(self, key: str, ctx: Ctx) -> bool:
        """A watermark moved: deadlines that are due, parked facts whose family is complete."""
        changed = self.tick_deadlines(ctx)
        return self.release(key, ctx) or changed

    def wakeups(self) -> list[tuple[str, str]]:
        """(family, moment) pairs at which this entity wants `on_time` again."""
        out = [(x.family, x.until) for x in self.parked]
        for item in self.deadlines.values():
            when = item.next_check()
            if when:
                out.append((item.family, day_key(when)))
        return out


def handlers(table: Mapping[type, Callable[..., Any]]) -> Mapping[type, Callable[..., bool]]:
    """A class's handler table (fact class → method), written out so that grepping a fact finds its handler."""
    return dict(table)
