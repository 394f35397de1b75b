"""The catalogue is data: 47 rules in 7 categories, each with its titles, basis, level and a
positive and a negative test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from contracts.alert import AlertLevel
from services.alerts.catalogue import CATALOGUE, CATEGORIES

HERE = Path(__file__).parent


def test_every_rule_of_design_section_6():
    counts = {"IND": 7, "ALC": 6, "PRG": 6, "USE": 9, "ACC": 6, "BEN": 9, "PERF": 4}
    assert sorted(CATALOGUE) == sorted(f"{p}-{n:02d}" for p, k in counts.items() for n in range(1, k + 1))
    assert len(CATALOGUE) == 47


def test_rule_specs_are_complete():
    for spec in CATALOGUE.values():
        assert spec.category in CATEGORIES
        assert re.search(r"[\u4e00-\u9fff]", spec.title_zh) and spec.title_en.isascii()
        assert re.search(r"[\u4e00-\u9fff]", spec.basis), spec.rule_id  # the seed passage or the law, in Chinese
        assert spec.needs, spec.rule_id
        if spec.kind == "deadline":
            assert spec.default_level == AlertLevel.bell and spec.escalate_to in (AlertLevel.yellow, AlertLevel.red)
        else:
            assert spec.default_level in (AlertLevel.yellow, AlertLevel.red)
    assert "第五十二条" in CATALOGUE["ALC-01"].basis and "契税" in CATALOGUE["BEN-02"].basis


def test_every_rule_has_a_positive_and_a_negative_test():
    names = set()
    for path in HERE.glob("test_rules_*.py"):
        names |= {n.name for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.FunctionDef)}
    for rule_id in CATALOGUE:
        stem = rule_id.lower().replace("-", "")
        assert f"test_{stem}_positive" in names and f"test_{stem}_negative" in names, rule_id
