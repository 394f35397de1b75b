"""Account management rules (账户管理), ACC-01 … ACC-06."""

from __future__ import annotations

from services.alerts.rules import accounts as acc
from tests.alerts.builders import pay, project_pay

DESIGNATED = acc.Account("designated", "active", "栾川县财政局", "410324001")


def test_acc01_positive():
    assert acc.acc01_not_designated(pay(), None) is not None
    assert acc.acc01_not_designated(pay(), acc.Account("unit", "active", "x")) is not None


def test_acc01_negative():
    assert acc.acc01_not_designated(pay(), DESIGNATED) is None
    special = acc.Account("special", "active", "栾川县财政局")
    assert acc.acc01_not_designated(pay(channel="special_account"), special) is None


def test_acc02_positive():
    f = acc.acc02_shared(pay(payee_person="q" * 32), ["p" * 32], "b" * 32)
    assert f is not None and f.subject == "account/" + "b" * 32


def test_acc02_negative():
    assert acc.acc02_shared(pay(), ["p" * 32], "b" * 32) is None
    assert acc.acc02_shared(pay(), [], "b" * 32) is None


def test_acc03_positive():
    assert acc.acc03_holder(project_pay(payee_holder="张三"), None) is not None
    assert acc.acc03_holder(project_pay(), acc.Account("unit", "active", "别的公司")) is not None


def test_acc03_negative():
    assert acc.acc03_holder(project_pay(), acc.Account("unit", "active", "栾川县宏达建筑工程有限公司")) is None
    assert acc.acc03_holder(project_pay(payee_holder="栾川县宏达建筑工程有限公司 "), None) is None


def test_acc04_positive():
    assert acc.acc04_personal(project_pay(payee_kind="individual", payee_person="r" * 32), None) is not None
    assert acc.acc04_personal(project_pay(), acc.Account("personal", "active", "张三")) is not None


def test_acc04_negative():
    assert acc.acc04_personal(project_pay(), acc.Account("unit", "active", "x")) is None
    assert acc.acc04_personal(pay(), None) is None  # a subsidy to a person is not a project payment


def test_acc05_positive():
    assert acc.acc05_inactive(pay(), acc.Account("designated", "frozen", "x"), None) is not None
    assert acc.acc05_inactive(pay(), DESIGNATED, acc.Account("unit", "closed", "x")) is not None


def test_acc05_negative():
    assert acc.acc05_inactive(pay(), DESIGNATED, None) is None


def test_acc06_positive():
    p = project_pay(payee_acct="a" * 32, payee_name="栾川县乡村振兴局", payee_holder="栾川县乡村振兴局")
    assert acc.acc06_back_to_payer(p, None) is not None
    registered_to_payer = acc.Account("designated", "active", "x", "410324002")
    assert acc.acc06_back_to_payer(project_pay(), registered_to_payer) is not None


def test_acc06_negative():
    assert acc.acc06_back_to_payer(project_pay(), acc.Account("unit", "active", "x", "91410324MA00000001")) is None
