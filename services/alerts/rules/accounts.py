"""Account management rules (账户管理): ACC-01 … ACC-06.

`Registration` is what the treasury registered about an account as in force on the payment's
date (account.registered, effective dates applied); None when the account was not registered."""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.alerts.config import RuleConfig
from services.alerts.findings import Finding
from services.alerts.model import Line, Pay, Registration
from services.alerts.rules.registry import rule
from services.alerts.zh import ACCOUNT_KINDS, ACCOUNT_SIDES, ACCOUNT_STATUS, word, yuan


def same_name(a: str, b: str) -> bool:
    norm = lambda s: re.sub(r"[\s\u3000·.()（）]", "", s).upper()  # noqa: E731
    return norm(a) == norm(b)


def _f(rule_id: str, p: Pay, text: str, zh: str, subject: str | None = None) -> Finding:
    return Finding(rule_id, subject or f"payment/{p.pid}", p.region, text, (p.evidence(),), None, p.at, p.day.year,
                   indicator_id=p.ind, findings_zh=zh)


@rule("ACC-01")
def acc01_not_designated(cfg: RuleConfig, p: Pay, payer: Registration | None) -> Finding | None:
    """ACC-01: the paying account is not a registered designated account (a special account is
    accepted for payments out of the special account)."""
    allowed = ("designated", "special") if p.channel == "special_account" else ("designated",)
    if payer is not None and payer.kind in allowed:
        return None
    what = "not registered" if payer is None else f"a {payer.kind} account"
    what_zh = "未登记" if payer is None else f"为{word(ACCOUNT_KINDS, payer.kind)}"
    return _f("ACC-01", p, f"payment {p.pid} paid from {p.payer_masked} of {p.payer_name}, which is {what}, "
                           f"not a designated account",
              f"支付 {p.pid} 由 {p.payer_name} 的账户 {p.payer_masked} 付款，该账户{what_zh}，不是指定账户")


@rule("ACC-02")
def acc02_shared(cfg: RuleConfig, p: Pay, owner: str, owners: Iterable[str], account_hash: str,
                 masked: str) -> Finding | None:
    """ACC-02: one payee account receives money for more than one beneficiary (a card shared by
    several persons, an account paid for several enterprises)."""
    others = sorted(o for o in set(owners) if o != owner)
    if not others:
        return None
    return Finding("ACC-02", f"account/{account_hash}", p.region,
                   f"account {masked} receives payment {p.pid} for {owner[:6]}… but was paid before for "
                   f"{len(others)} other beneficiar{'y' if len(others) == 1 else 'ies'}", (p.evidence(),), None,
                   p.at, p.day.year, indicator_id=p.ind,  # owners are hashes or codes: shown only by their start
                   findings_zh=f"收款账户 {masked} 因支付 {p.pid} 收款（收款人 {owner[:6]}…），此前已为另外 "
                               f"{len(others)} 个收款人收款：同一收款账户对应多个收款人")


@rule("ACC-03")
def acc03_holder(cfg: RuleConfig, p: Pay, payee: Registration | None) -> Finding | None:
    """ACC-03: the account holder is not the payee (on the payment, or as registered)."""
    if not same_name(p.payee_holder, p.payee_name):
        return _f("ACC-03", p, f"payment {p.pid}: payee {p.payee_name} but account {p.payee_masked} is held by "
                               f"{p.payee_holder}",
                  f"支付 {p.pid}：收款人为 {p.payee_name}，但账户 {p.payee_masked} 的户名为 {p.payee_holder}")
    if payee is not None and not same_name(payee.holder, p.payee_name):
        return _f("ACC-03", p, f"payment {p.pid}: payee {p.payee_name} but account {p.payee_masked} is registered to "
                               f"{payee.holder}",
                  f"支付 {p.pid}：收款人为 {p.payee_name}，但账户 {p.payee_masked} 登记的户名为 {payee.holder}")
    return None


@rule("ACC-04")
def acc04_personal(cfg: RuleConfig, p: Pay, payee: Registration | None, for_households: bool) -> Finding | None:
    """ACC-04: project money paid to a personal account. Per-person subsidies (到人到户: subsidy
    lines, or a household fund's payment to the individual) belong in personal accounts — the
    subsidy card pays them there (seed 002) — so they are not ACC-04's; USE-07 watches their channel."""
    if not p.project:
        return None
    if p.lines > 0 or (for_households and p.payee_kind == "individual"):
        return None
    if p.payee_kind == "individual" or (payee is not None and payee.kind == "personal"):
        return _f("ACC-04", p, f"project payment {p.pid} ({p.project}) of {p.amount} yuan paid to the personal "
                               f"account {p.payee_masked} of {p.payee_name}",
                  f"项目支付 {p.pid}（项目 {p.project}）金额 {yuan(p.amount)} 支付至 {p.payee_name} 的个人账户 "
                  f"{p.payee_masked}")
    return None


@rule("ACC-05")
def acc05_inactive(cfg: RuleConfig, p: Pay, side: str, account: Registration | None, masked: str,
                   subject: str | None = None) -> Finding | None:
    """ACC-05: money paid from or to an account that was closed or frozen on the payment's date."""
    if account is None or account.status not in ("closed", "frozen"):
        return None
    since = f" since {account.effective_on}" if account.effective_on else ""
    since_zh = f"（自 {account.effective_on} 起）" if account.effective_on else ""
    return _f("ACC-05", p, f"payment {p.pid} on {p.day}: {side} account {masked} is {account.status}{since}",
              f"支付 {p.pid}（{p.day}）：{word(ACCOUNT_SIDES, side)}账户 {masked} "
              f"{word(ACCOUNT_STATUS, account.status)}{since_zh}", subject=subject)


@rule("ACC-05")
def acc05_card(cfg: RuleConfig, p: Pay, line: Line, account: Registration | None) -> Finding | None:
    """ACC-05 for one person's card account of a subsidy payment."""
    return acc05_inactive(cfg, p, "card", account, line.account_masked or "?",
                          subject=f"payment/{p.pid}/person/{line.person}")


@rule("ACC-06")
def acc06_back_to_payer(cfg: RuleConfig, p: Pay, payee: Registration | None) -> Finding | None:
    """ACC-06: the money flows back to the paying unit (its own account, or an account registered to it)."""
    if p.payee_acct == p.payer_acct or (payee is not None and payee.unit and payee.unit == p.payer_unit) \
            or same_name(p.payee_name, p.payer_name):
        return _f("ACC-06", p, f"payment {p.pid} of {p.amount} yuan from {p.payer_name} goes to {p.payee_masked}, "
                               f"an account of the paying unit itself",
                  f"支付 {p.pid} 金额 {yuan(p.amount)} 由 {p.payer_name} 付往账户 {p.payee_masked}，"
                  f"该账户属于付款单位本身（资金回流付款单位）")
    return None
