"""The catalogue is data: 47 rules in 7 categories, each with its titles, basis, level and kind, a rule
function registered under its id, and a positive and a negative test that assert what was found."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from contracts.alert import AlertLevel
from services.alerts import engine  # noqa: F401 - imports every rule module: the registry is complete
from services.alerts.catalogue import CATALOGUE, CATEGORIES
from services.alerts.config import RuleConfigs
from services.alerts.rules.registry import RULES

HERE = Path(__file__).parent


def test_every_rule_of_design_section_6():
    counts = {"IND": 7, "ALC": 6, "PRG": 6, "USE": 9, "ACC": 6, "BEN": 9, "PERF": 4}
    assert sorted(CATALOGUE) == sorted(f"{p}-{n:02d}" for p, k in counts.items() for n in range(1, k + 1))
    assert len(CATALOGUE) == 47
    prefixes = {"indicator": "IND", "allocation": "ALC", "progress": "PRG", "usage": "USE", "account": "ACC",
                "recipients": "BEN", "performance": "PERF"}
    assert set(prefixes) == set(CATEGORIES)
    assert all(rule.startswith(prefixes[spec.category] + "-") for rule, spec in CATALOGUE.items())


def test_rule_specs_are_complete():
    for spec in CATALOGUE.values():
        assert spec.category in CATEGORIES
        assert re.search(r"[\u4e00-\u9fff]", spec.title_zh) and spec.title_en.isascii()
        assert re.search(r"[\u4e00-\u9fff]", spec.basis), spec.rule_id  # the seed passage or the law, in Chinese
        assert spec.needs, spec.rule_id
        if spec.kind == "deadline":
            assert spec.default_level == AlertLevel.bell and spec.escalate_to in (AlertLevel.yellow, AlertLevel.red)
            assert spec.lead_time_days > 0, spec.rule_id  # the bell rings before the deadline
        else:
            assert spec.default_level in (AlertLevel.yellow, AlertLevel.red) and spec.escalate_to is None
    assert "第五十二条" in CATALOGUE["ALC-01"].basis and "契税" in CATALOGUE["BEN-02"].basis


def test_kinds_and_levels():
    deadlines = sorted(r for r, s in CATALOGUE.items() if s.kind == "deadline")
    assert deadlines == ["ALC-01", "ALC-06", "IND-01", "PERF-01", "PERF-03"]
    assert sorted(r for r, s in CATALOGUE.items() if s.default_level == AlertLevel.red) == ["ALC-02", "USE-01"]
    assert CATALOGUE["PRG-01"].checkpoints == ("06-30", "09-30") and CATALOGUE["PRG-03"].checkpoints == ("12-15",)


def test_the_defaults_are_the_configuration_without_any_rule_configured():
    configs = RuleConfigs()
    for rule, spec in CATALOGUE.items():
        c = configs.get(rule, 2026, "410324")
        assert (c.enabled, c.shadow, c.level, c.escalate_to, c.lead_time_days) == (
            True, False, spec.default_level, spec.escalate_to, spec.lead_time_days), rule
        assert dict(c.params) == dict(spec.params) and c.checkpoints == spec.checkpoints


def test_every_rule_has_a_registered_function():
    """`Rules.run` finds a rule by its function's id: each catalogue rule has at least one."""
    assert sorted(RULES) == sorted(CATALOGUE)
    for rule, fns in RULES.items():
        assert all(fn.rule_id == rule for fn in fns), rule


def _rule_tests() -> dict[str, ast.FunctionDef]:
    out = {}
    for path in sorted(HERE.glob("test_rules_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out |= {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return out


def test_every_rule_has_a_positive_and_a_negative_test():
    names = set(_rule_tests())
    for rule_id in CATALOGUE:
        stem = rule_id.lower().replace("-", "")
        assert f"test_{stem}_positive" in names and f"test_{stem}_negative" in names, rule_id


def test_rule_tests_assert_what_was_found_not_that_something_was():
    """Issue 9 item 6: an assertion that a finding merely exists (`is not None`) lets a wrong subject, level
    or evidence pass. Rule tests compare what was found."""
    lazy = []
    for name, fn in _rule_tests().items():
        for node in ast.walk(fn):
            if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and any(
                    isinstance(op, ast.IsNot) for op in node.test.ops) and any(
                    isinstance(c, ast.Constant) and c.value is None for c in node.test.comparators):
                lazy.append(f"{name}:{node.lineno}")
    assert lazy == []


def test_no_basis_text_shows_an_internal_label():
    """The basis is shown to operators: documents by their titles, never the project's own labels."""
    for spec in CATALOGUE.values():
        assert "seed" not in spec.basis.lower() and "art." not in spec.basis, spec.rule_id
