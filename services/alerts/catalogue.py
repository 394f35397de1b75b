"""The rule catalogue: id, category, titles, basis and default level of every rule.

The walking skeleton evaluates BEN-01; the catalogue grows with the rules (DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.alert import AlertLevel


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    category: str
    title_zh: str
    title_en: str
    basis: str
    default_level: AlertLevel
    params: dict = field(default_factory=dict)


CATALOGUE: dict[str, RuleSpec] = {
    spec.rule_id: spec
    for spec in (
        RuleSpec(
            "BEN-01", "recipients", "受益对象不在建档立卡贫困人口名单", "Beneficiary not in the poor-household registry",
            "seed 000 art. 7(1)2: 到人到户的扶贫项目资金发放对象与建档立卡贫困人口信息是否匹配", AlertLevel.yellow,
            {"grace_seconds": 5.0},
        ),
    )
}
