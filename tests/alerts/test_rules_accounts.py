"""Account management rules (账户管理), ACC-01 … ACC-06: what each rule finds (rule id, subject, region,
the evidence's key facts) and the near misses that must stay quiet. A payment is judged by the
account's registration in force on the payment's date, whichever arrived first; the checks run through
the in-memory engine (tests/alerts/harness.py) on wire events, where `flush()` is the end of the input."""

from __future__ import annotations

from contracts.types import keyed_hash
from services.alerts.rules import accounts as acc
from tests import factories as wire
from tests.alerts.builders import at, facts_findings, key_facts, line, pay, project_pay, registration, run
from tests.alerts.harness import PII_KEY, Harness, arriving, engine
from tests.alerts.harness import raised as of

COUNTY = "410324"
IND = "IND-410324-1"
PAYER, ENTERPRISE, PERSONAL = "6222020200112233", "6222020200118888", "6222020200119999"  # tests/factories.payment
CARD = "6222020200117001"
PERSON = wire.citizen_id(11)


def hashed(number: str) -> str:
    return keyed_hash(PII_KEY, number)


def paid(pid: str, amount: str = "120000.00", day: str = "2026-03-02", person: str | None = None, **extra) -> dict:
    e = wire.payment(pid, IND, amount, person=person, **{"payment_date": day, **extra})
    e["time"] = at(day)
    return e


def account(number: str, holder: str, kind: str = "designated", status: str = "active", unit: str | None = None,
            effective_on: str | None = None, day: str = "2026-01-05") -> dict:
    data = {"account": number, "holder_name": holder, "kind": kind, "status": status, "unit_code": unit,
            "effective_on": effective_on}
    return wire.event("account.registered", data, COUNTY, time=at(day))


def designated_payer() -> dict:
    return account(PAYER, "栾川县扶贫办", unit="U1")


def card_subsidy(pid: str, people: list[tuple[str, str]], day: str = "2026-03-02", **extra) -> dict:
    """A subsidy-card batch (一卡通): paid to the card bank's settlement account, each line into a person's card."""
    lines = [{"person": person, "name": "农户", "subsidy_type": "到户增收", "payable": "2000.00", "paid": "2000.00",
              "account": card} for person, card in people]
    payee = {"kind": "unit", "name": "栾川县农村信用合作联社", "account": "6222020200110000",
             "account_holder": "栾川县农村信用合作联社"}
    return paid(pid, f"{2000 * len(people)}.00", day, payee=payee, channel="subsidy_card", subsidy_lines=lines,
                **extra)


def subjects(h: Harness, rule: str) -> list[str]:
    return sorted(t.subject for t in of(h, rule))


# ------------------------------------------------------------------ ACC-01 payer account not designated


def test_acc01_positive():
    """Not registered at all (decided once the reference data is complete), or registered as a unit account."""
    h = engine([paid("ZF1")])
    (t,) = of(h, "ACC-01")
    assert (t.subject, t.region) == ("payment/ZF1", COUNTY) and "which is not registered" in t.findings
    assert key_facts(t)["payer_account"] == "6222********2233" and key_facts(t)["payer_unit"] == "U1"
    h = engine([account(PAYER, "栾川县扶贫办", kind="unit"), paid("ZF2")])
    assert subjects(h, "ACC-01") == ["payment/ZF2"] and "a unit account" in of(h, "ACC-01")[0].findings


def test_acc01_negative():
    """A designated payer account — also when its registration arrives after the payment; a special
    account paying out through the special-account channel."""
    for order in ([designated_payer(), paid("ZF1")], [paid("ZF1"), designated_payer()]):
        assert of(arriving([order[0]], [order[1]]), "ACC-01") == [], order[0]["type"]
    special = account(PAYER, "栾川县财政局专户", kind="special")
    assert of(engine([special, paid("ZF1", channel="special_account")]), "ACC-01") == []


# ------------------------------------------------------------------ ACC-02 one account, several beneficiaries


def test_acc02_positive():
    """Two persons' subsidies paid into one card (across counties: everything about an account meets in one place)."""
    other = wire.citizen_id(12, county="410325")
    h = engine([card_subsidy("ZF1", [(PERSON, CARD)]),
                card_subsidy("ZF2", [(other, CARD)], day="2026-03-05", region="410325", payer={
                    "unit_code": "U9", "unit_name": "嵩县扶贫办", "account": "6222020200113344"})])
    (t,) = of(h, "ACC-02")
    assert (t.subject, t.region) == (f"account/{hashed(CARD)}", "410325")
    assert "paid before for 1 other beneficiary" in t.findings and key_facts(t)["payment_id"] == "ZF2"
    h = engine([paid("ZF3", person=PERSON), paid("ZF4", person=wire.citizen_id(13), day="2026-03-04")])
    assert subjects(h, "ACC-02") == [f"account/{hashed(PERSONAL)}"]  # individual payees into one account


def test_acc02_is_the_later_payments_whichever_arrives_first():
    other = wire.citizen_id(12, county="410325")
    later = card_subsidy("ZF2", [(other, CARD)], day="2026-03-05", region="410325", payer={
        "unit_code": "U9", "unit_name": "嵩县扶贫办", "account": "6222020200113344"})
    h = arriving([later], [card_subsidy("ZF1", [(PERSON, CARD)])])
    (t,) = of(h, "ACC-02")
    assert (t.subject, t.region, key_facts(t)["payment_id"]) == (f"account/{hashed(CARD)}", "410325", "ZF2")


def test_acc02_negative():
    """One person paid into her own card again and again; one enterprise paid several times."""
    h = engine([card_subsidy("ZF1", [(PERSON, CARD)]), card_subsidy("ZF2", [(PERSON, CARD)], day="2026-04-02"),
                paid("ZF3"), paid("ZF4", amount="5000.00", day="2026-03-09")])
    assert of(h, "ACC-02") == []


def test_acc02_same_person_as_payee_and_as_a_subsidy_line_is_one_beneficiary():
    h = engine([paid("ZF1", "3000.00", person=PERSON)], [card_subsidy("ZF2", [(PERSON, PERSONAL)], day="2026-04-02")])
    assert of(h, "ACC-02") == []


# ------------------------------------------------------------------ ACC-03 holder ≠ payee


def test_acc03_positive():
    e = paid("ZF3", payee={"kind": "enterprise", "name": "栾川县宏达建筑工程有限公司",
                           "enterprise_code": "91410324MA00000001", "account": ENTERPRISE, "account_holder": "李四"})
    (f,) = [x for x in facts_findings(e) if x.rule_id == "ACC-03"]
    assert (f.subject, f.region) == ("payment/ZF3", COUNTY) and "is held by 李四" in f.findings
    assert key_facts(f)["payee"] == "栾川县宏达建筑工程有限公司" and key_facts(f)["payee_account"] == "6222********8888"
    registered = engine([account(ENTERPRISE, "栾川县某某商贸有限公司", kind="unit"), paid("ZF4")])
    (t,) = of(registered, "ACC-03")
    assert t.subject == "payment/ZF4" and "is registered to 栾川县某某商贸有限公司" in t.findings


def test_acc03_negative():
    """The same name written with spaces or a middle dot; a registration to the payee itself."""
    e = paid("ZF3", person=PERSON)
    e["data"]["payee"].update(name="阿卜杜·热合曼", account_holder="阿卜杜 热合曼")
    assert [x for x in facts_findings(e) if x.rule_id == "ACC-03"] == []
    assert of(engine([account(ENTERPRISE, "栾川县某合作社", kind="unit"), paid("ZF4")]), "ACC-03") == []
    assert run(acc.acc03_holder, pay(), registration(holder="王五", kind="personal")) == []


# ------------------------------------------------------------------ ACC-04 project money to a personal account


def test_acc04_positive():
    """Project money (not a per-person subsidy) paid to a person, or into an account registered as personal."""
    h = engine([paid("ZF4", "30000.00", person=PERSON, project_code="XM1", channel="direct")])
    (t,) = of(h, "ACC-04")
    assert (t.subject, t.region) == ("payment/ZF4", COUNTY)
    assert key_facts(t)["project_code"] == "XM1" and key_facts(t)["payee_kind"] == "individual"
    h = engine([account(ENTERPRISE, "栾川县某合作社", kind="personal"), paid("ZF5", project_code="XM1")])
    assert subjects(h, "ACC-04") == ["payment/ZF5"]


def test_acc04_negative():
    """A per-person subsidy paid through the subsidy card from project funds belongs in personal accounts
    (到人到户); a household fund's payment to the person likewise; project money to an enterprise is fine."""
    assert of(engine([card_subsidy("ZF1", [(PERSON, CARD)], project_code="XM1"),
                      account(CARD, "农户", kind="personal")]), "ACC-04") == []
    fund = wire.event("fund.registered", {"fund_code": "C33", "name": "到户增收补助", "level": "central",
                                          "functional_classes": ["21305"], "for_households": True},
                      "000000", time=at("2026-01-05"))
    reg = wire.registered(IND, "500000.00", fund_code="C33", doc_scan_ref="oss://a.pdf")
    reg["time"] = at("2026-02-02")
    to_person = paid("ZF2", "3000.00", person=PERSON, project_code="XM1", channel="subsidy_card")
    for order in ([fund, reg, to_person], [to_person, reg, fund]):  # the fund may be known only afterwards
        assert of(arriving(*[[e] for e in order]), "ACC-04") == [], order[0]["type"]
    assert of(engine([paid("ZF3", project_code="XM1")]), "ACC-04") == []
    assert run(acc.acc04_personal, project_pay(payee_kind="individual", project=None), None, False) == []


# ------------------------------------------------------------------ ACC-05 closed or frozen on the payment's date


def frozen(number: str, on: str, holder: str = "栾川县某合作社", kind: str = "unit", status: str = "frozen") -> dict:
    return account(number, holder, kind=kind, status=status, effective_on=on, day=on)


def test_acc05_positive():
    """The payee account was frozen on 20 February; paid into on 2 March — whether the freeze arrives
    before or after the payment."""
    for order in ([frozen(ENTERPRISE, "2026-02-20"), paid("ZF5")], [paid("ZF5"), frozen(ENTERPRISE, "2026-02-20")]):
        h = arriving([account(ENTERPRISE, "栾川县某合作社", kind="unit")], [order[0]], [order[1]])
        (t,) = of(h, "ACC-05")
        assert (t.subject, t.region) == ("payment/ZF5", COUNTY), order[0]["type"]
        assert "payee account 6222********8888 is frozen since 2026-02-20" in t.findings
        assert key_facts(t)["payment_date"] == "2026-03-02"


def test_acc05_payer_and_card_accounts():
    closed_payer = frozen(PAYER, "2026-01-31", holder="栾川县扶贫办", kind="designated", status="closed")
    assert subjects(engine([closed_payer, paid("ZF6")]), "ACC-05") == ["payment/ZF6"]
    h = engine([frozen(CARD, "2026-02-01", holder="农户", kind="personal"), card_subsidy("ZF7", [(PERSON, CARD)])])
    (t,) = of(h, "ACC-05")
    assert (t.subject, t.region) == (f"payment/ZF7/person/{hashed(PERSON)}", COUNTY)
    assert "card account 6222********7001 is frozen" in t.findings


def test_acc05_card_finding_names_the_card_whichever_arrives_first():
    h = arriving([card_subsidy("ZF7", [(PERSON, CARD)])], [frozen(CARD, "2026-02-01", holder="农户", kind="personal")])
    (t,) = of(h, "ACC-05")
    assert t.subject == f"payment/ZF7/person/{hashed(PERSON)}"
    assert "card account 6222********7001 is frozen" in t.findings


def test_acc05_negative():
    """Frozen only after the payment date (effective 10 March), in either arrival order; active again
    (unfrozen) before it."""
    for order in ([frozen(ENTERPRISE, "2026-03-10"), paid("ZF5")], [paid("ZF5"), frozen(ENTERPRISE, "2026-03-10")]):
        h = arriving([account(ENTERPRISE, "栾川县某合作社", kind="unit")], [order[0]], [order[1]])
        assert of(h, "ACC-05") == [], order[0]["type"]
    thawed = account(ENTERPRISE, "栾川县某合作社", kind="unit", effective_on="2026-02-25", day="2026-02-25")
    h = engine([frozen(ENTERPRISE, "2026-02-20"), thawed, paid("ZF5")])
    assert of(h, "ACC-05") == []


# ------------------------------------------------------------------ ACC-06 money back to the paying unit


def test_acc06_positive():
    """Into an account registered to the paying unit, or paid to the paying unit by name."""
    h = engine([account(ENTERPRISE, "栾川县某合作社", kind="unit", unit="U1"), paid("ZF6")])
    (t,) = of(h, "ACC-06")
    assert (t.subject, t.region) == ("payment/ZF6", COUNTY) and "an account of the paying unit itself" in t.findings
    assert key_facts(t)["payer_unit"] == "U1" and key_facts(t)["payee_account"] == "6222********8888"
    e = paid("ZF7", payee={"kind": "unit", "name": "栾川县扶贫办", "account": "6222020200116666",
                           "account_holder": "栾川县扶贫办"})
    assert [(x.rule_id, x.subject) for x in facts_findings(e) if x.rule_id == "ACC-06"] == [("ACC-06", "payment/ZF7")]


def test_acc06_negative():
    other_unit = account(ENTERPRISE, "栾川县某合作社", kind="unit", unit="410324900")
    assert of(engine([other_unit, paid("ZF6")]), "ACC-06") == []
    assert run(acc.acc06_back_to_payer, pay(), registration(unit="410324999", holder="王五")) == []
    assert run(acc.acc05_card, pay(), line(account="c" * 32, account_masked="6222****0001"), None) == []
