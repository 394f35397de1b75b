"""The rule registry: every rule function, found by its rule id, and the one place that decides
whether a rule runs (enabled for the budget year and region) and with which configuration.

A rule is a pure function `fn(cfg, *facts) -> Finding | list[Finding] | None`, registered with
`@rule("USE-04")`. Entities do not look at configuration themselves: they call
`Rules.run(fn, year, region, *facts)`, which gates the rule, passes its configuration and
collects what it found. Level and shadow mode are applied later, by the life cycle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from services.alerts.catalogue import CATALOGUE
from services.alerts.config import RuleConfig, RuleConfigs
from services.alerts.findings import Finding

F = TypeVar("F", bound=Callable[..., Any])
RULES: dict[str, list[Callable[..., Any]]] = {}


def rule(rule_id: str) -> Callable[[F], F]:
    """Register a rule function under its catalogue id."""
    if rule_id not in CATALOGUE:
        raise KeyError(f"{rule_id} is not in the catalogue")

    def register(fn: F) -> F:
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        RULES.setdefault(rule_id, []).append(fn)
        return fn

    return register


class Rules:
    """Gating and collection for one message: what the rules found goes to `found`."""

    def __init__(self, configs: RuleConfigs) -> None:
        self.configs = configs
        self.found: list[Finding] = []

    def config(self, rule_id: str, year: int | None, region: str) -> RuleConfig | None:
        """The rule's configuration for the year and region, None when it is switched off there."""
        c = self.configs.get(rule_id, year, region)
        return c if c.enabled else None

    def run(self, fn: Callable[..., Any], year: int | None, region: str, *args: Any) -> list[Finding]:
        cfg = self.config(fn.rule_id, year, region)  # type: ignore[attr-defined]
        if cfg is None:
            return []
        result = fn(cfg, *args)
        if result is None:
            return []
        found = result if isinstance(result, list) else [result]
        self.found.extend(found)
        return found

    def add(self, findings: list[Finding] | Finding | None) -> None:
        if findings is None:
            return
        self.found.extend(findings if isinstance(findings, list) else [findings])
