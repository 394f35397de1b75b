"""Rule configuration per budget year and region scope (seed 000 art. 18) and the alerts service's
own settings.

The upper bureau publishes `rule.configured` events on the compacted rule-config topic; every
worker folds them into `RuleConfigs` as they arrive, so a change applies to the next event
without a restart. Precedence, resolved here and nowhere else: for a rule, a budget year and the
region an alert is about, the configuration whose `scope` is the most specific region containing
it wins — a county's own (if its city or province set one for it) before its city's, before its
province's, before the Ministry's (`000000`); with none, the catalogue defaults. The winner's
parameters lie over the catalogue's defaults (a configuration names only what it changes there);
a more specific scope replaces a less specific one whole."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.alert import AlertLevel
from contracts.control import RuleConfigured
from contracts.types import CENTRAL, region_prefix
from services.alerts.catalogue import CATALOGUE, RuleSpec


@dataclass(frozen=True)
class RuleConfig:
    """The effective configuration of one rule for one budget year in one region."""

    spec: RuleSpec
    budget_year: int | None
    enabled: bool
    shadow: bool
    level: AlertLevel
    escalate_to: AlertLevel | None
    lead_time_days: int
    params: Mapping[str, Any]
    checkpoints: tuple[str, ...]
    scope: str = CENTRAL

    @property
    def rule_id(self) -> str:
        return self.spec.rule_id

    def num(self, name: str) -> Decimal:
        return Decimal(str(self.params[name]))

    def int(self, name: str) -> int:
        return int(self.params[name])

    def text(self, name: str) -> str:
        return str(self.params[name])

    def words(self, name: str) -> tuple[str, ...]:
        return _words(str(self.params[name]))


@lru_cache(maxsize=256)
def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


def default_config(spec: RuleSpec, budget_year: int | None = None) -> RuleConfig:
    return RuleConfig(spec, budget_year, True, False, spec.default_level, spec.escalate_to, spec.lead_time_days,
                      spec.params, spec.checkpoints)


def apply_configured(spec: RuleSpec, configured: RuleConfigured) -> RuleConfig:
    """The catalogue defaults overlaid with what the upper bureau set for that year and scope."""
    base = default_config(spec, configured.budget_year)
    level = configured.level or base.level
    if spec.kind == "deadline" and level != AlertLevel.bell:
        level = AlertLevel.bell  # a deadline rule always starts as a bell; its escalation level is configurable
    return RuleConfig(
        spec, configured.budget_year, configured.enabled, configured.shadow, level,
        configured.escalate_to or base.escalate_to,
        base.lead_time_days if configured.lead_time_days is None else configured.lead_time_days,
        {**base.params, **configured.params},
        tuple(configured.checkpoints) or base.checkpoints,
        configured.scope,
    )


# ------------------------------------------------------------------ parameter schemas

_MMDD = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def _month_day(value: object) -> bool:
    """A month-day that exists in every year (so not 02-29: a checkpoint falls on it each budget year)."""
    if not isinstance(value, str) or not _MMDD.fullmatch(value):
        return False
    try:
        dt.date(2001, int(value[:2]), int(value[3:]))
    except ValueError:
        return False
    return True
_KINDS: dict[tuple[str, str], str] = {  # parameters whose form the default's type does not say
    ("IND-04", "pattern"): "regex",
    ("ALC-06", "due"): "mmdd",
    ("PRG-06", "window_start"): "mmdd",
    ("BEN-04", "period"): "period",
}


def param_kind(rule_id: str, name: str, default: Any) -> str:
    """int | decimal | words | regex | mmdd | period — what a parameter's value must be."""
    if (rule_id, name) in _KINDS:
        return _KINDS[(rule_id, name)]
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    try:
        Decimal(str(default))
        return "decimal"
    except InvalidOperation:
        return "words"


def param_problems(spec: RuleSpec, params: Mapping[str, Any], checkpoints: list[str] | tuple[str, ...] = ()
                   ) -> list[tuple[str, str]]:
    """(parameter, why) for every value the rule cannot use: unknown names, wrong types, bad forms."""
    out: list[tuple[str, str]] = []
    for name, value in params.items():
        if name not in spec.params:
            known = ", ".join(sorted(spec.params)) or "none"
            out.append((name, f"{spec.rule_id} has no parameter {name!r} (its parameters: {known})"))
            continue
        kind = param_kind(spec.rule_id, name, spec.params[name])
        why = _check_value(kind, value)
        if why:
            out.append((name, why))
    for i, mmdd in enumerate(checkpoints):
        if not _month_day(mmdd):
            out.append((f"checkpoints[{i}]", f"{mmdd!r} is not a month-day of every year, such as '06-30'"))
    return out


def _check_value(kind: str, value: Any) -> str | None:
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return "must be a whole number"
        try:
            number = int(str(value))
        except ValueError:
            return f"{value!r} is not a whole number"
        return None if 0 <= number <= 100_000 else "must lie between 0 and 100000"
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return "must be a decimal number written as a string, e.g. '0.3'"
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return f"{value!r} is not a decimal number"
        return None if amount.is_finite() and amount >= 0 else "must be a finite number ≥ 0"
    if kind == "words":
        return None if isinstance(value, str) and _words(value) else "must be a comma-separated list of words"
    if kind == "regex":
        if not isinstance(value, str):
            return "must be a regular expression"
        try:
            re.compile(value)
        except re.error as exc:
            return f"is not a valid regular expression: {exc}"
        return None
    if kind == "mmdd":
        return None if _month_day(value) else "must be a month-day of every year, such as '11-15'"
    if kind == "period":
        return None if value in ("year", "half", "quarter", "month") else "must be one of year, half, quarter, month"
    return None


class RuleConfigs:
    """Every `rule.configured` seen so far; `get(rule, year, region)` is what applies now."""

    def __init__(self) -> None:
        self._set: dict[tuple[str, int, str], RuleConfigured] = {}
        self._cache: dict[tuple[str, int | None, str], RuleConfig] = {}
        self._scopes: dict[tuple[str, int], list[str]] = {}  # the scopes configured per (rule, year)
        self.version = 0

    def apply(self, configured: RuleConfigured) -> bool:
        """Take a configuration; False when it changes nothing or cannot be used (unknown rule, bad values)."""
        spec = CATALOGUE.get(configured.rule_id)
        if spec is None or param_problems(spec, configured.params, configured.checkpoints):
            return False
        key = (configured.rule_id, configured.budget_year, configured.scope)
        if self._set.get(key) == configured:
            return False
        self._set[key] = configured
        scopes = self._scopes.setdefault((configured.rule_id, configured.budget_year), [])
        if configured.scope not in scopes:
            scopes.append(configured.scope)
            scopes.sort(key=lambda s: len(region_prefix(s)), reverse=True)  # most specific first
        self._cache.clear()
        self.version += 1
        return True

    def get(self, rule_id: str, budget_year: int | None, region: str = CENTRAL) -> RuleConfig:
        key = (rule_id, budget_year, region)
        found = self._cache.get(key)
        if found is None:
            spec = CATALOGUE[rule_id]
            configured = self.winner(rule_id, budget_year, region)
            found = apply_configured(spec, configured) if configured else default_config(spec, budget_year)
            self._cache[key] = found
        return found

    def winner(self, rule_id: str, budget_year: int | None, region: str) -> RuleConfigured | None:
        """The configuration that applies (the most specific scope containing `region`), if any."""
        if budget_year is None:
            return None
        for scope in self._scopes.get((rule_id, budget_year), ()):
            if region.startswith(region_prefix(scope)):
                return self._set[(rule_id, budget_year, scope)]
        return None

    def configured(self) -> list[RuleConfigured]:
        return [self._set[k] for k in sorted(self._set)]


def lateness_days(value: Mapping[str, float]) -> dict[str, dt.timedelta]:
    return {family: dt.timedelta(days=float(days)) for family, days in value.items()}


class AlertsSettings(BaseSettings):
    """`FUNDWATCH_ALERTS_*`: what only the alerts service reads."""

    model_config = SettingsConfigDict(env_prefix="FUNDWATCH_ALERTS_", extra="ignore")

    clock: Literal["wall", "event"] | None = None  # default: event time when embedded (demo), wall time in production
    worker_port: int | None = None  # faust web of the worker (status page); unset: no web server
    tick_s: float = 1.0  # how often timers look at deadlines and waiting checks
    router_batch: int = 2000  # source records routed per internal message round
    router_linger_s: float = 0.3  # a round shorter than a full batch waits at most this long for the agent
    # a partition that brought nothing for this long no longer holds its family's watermark back; the whole
    # input quiet for this long: it has ended (event time), every family is complete up to the furthest time
    idle_s: float = 2.0
    # how far behind the newest event of its partition an event of each source family may still arrive
    # (days); a rule that depends on a family waits this long past the moment it judges (watermarks.py)
    lateness_days: dict[str, float] = {"reference": 1.0, "indicator": 1.0, "payment": 1.0, "performance": 1.0}
    # partitions of the work and state topics: the most workers that can share the load. Each round
    # sends one message per partition, and a fact's consequences hop between partitions, so on one
    # worker fewer is faster (measured at 3,000 events/s live: event-to-alert p99 6.8 s at 6, 3.1 s
    # at 3, 1.9–2.1 s at 2; 1 partition makes each round one huge message: backlog 1,400 events/s)
    partitions: int = 2

    def clock_mode(self, platform_mode: str) -> Literal["wall", "event"]:
        if self.clock:
            return self.clock
        return "event" if platform_mode == "embedded" else "wall"

    def lateness(self) -> dict[str, dt.timedelta]:
        return lateness_days(self.lateness_days)
