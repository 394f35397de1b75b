"""Account management rules (账户管理): ACC-01 … ACC-06.

`Account` is what the treasury registered about an account (account.registered); None when
the account is not registered."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.alerts.findings import Finding
from services.alerts.model import Pay


@dataclass(frozen=True)
class Account:
    kind: str
    status: str
    holder: str
    unit: str | None = None


def same_name(a: str, b: str) -> bool:
    norm = lambda s: re.sub(r"[\s\u3000·.()（）]", "", s).replace("（", "(").upper()  # noqa: E731
    return norm(a) == norm(b)


def _f(rule_id: str, p: Pay, text: str, subject: str | None = None) -> Finding:
    return Finding(rule_id, subject or f"payment/{p.pid}", p.region, text, (p.evidence(),), None, p.at, p.day.year,
                   details={"indicator_id": p.ind})


def acc01_not_designated(p: Pay, payer: Account | None) -> Finding | None:
    """ACC-01: the paying account is not a registered designated account (a special account
    is accepted for payments out of the special account)."""
    allowed = ("designated", "special") if p.channel == "special_account" else ("designated",)
    if payer is not None and payer.kind in allowed:
        return None
    what = "not registered" if payer is None else f"a {payer.kind} account"
    return _f("ACC-01", p, f"payment {p.pid} paid from {p.payer_masked} of {p.payer_name}, which is {what}, "
                           f"not a designated account")


def acc02_shared(p: Pay, owners: Iterable[str], account_hash: str) -> Finding | None:
    """ACC-02: the payee account has received money for someone else before."""
    others = sorted(o for o in set(owners) if o != p.owner)
    if not others:
        return None
    return _f("ACC-02", p, f"payee account {p.payee_masked} receives payment {p.pid} for {p.payee_name} but was "
                           f"paid before for {len(others)} other beneficiar{'y' if len(others) == 1 else 'ies'}",
              subject=f"account/{account_hash}")


def acc03_holder(p: Pay, payee: Account | None) -> Finding | None:
    """ACC-03: the account holder is not the payee (on the payment, or as registered)."""
    if not same_name(p.payee_holder, p.payee_name):
        return _f("ACC-03", p, f"payment {p.pid}: payee {p.payee_name} but account {p.payee_masked} is held by "
                               f"{p.payee_holder}")
    if payee is not None and not same_name(payee.holder, p.payee_name):
        return _f("ACC-03", p, f"payment {p.pid}: payee {p.payee_name} but account {p.payee_masked} is registered to "
                               f"{payee.holder}")
    return None


def acc04_personal(p: Pay, payee: Account | None) -> Finding | None:
    """ACC-04: project money paid to a personal account."""
    if not p.project:
        return None
    if p.payee_kind == "individual" or (payee is not None and payee.kind == "personal"):
        return _f("ACC-04", p, f"project payment {p.pid} ({p.project}) of {p.amount} yuan paid to the personal "
                               f"account {p.payee_masked} of {p.payee_name}")
    return None


def acc05_inactive(p: Pay, payer: Account | None, payee: Account | None) -> Finding | None:
    """ACC-05: money paid from or to a closed or frozen account."""
    for side, acct, masked in (("payer", payer, p.payer_masked), ("payee", payee, p.payee_masked)):
        if acct is not None and acct.status in ("closed", "frozen"):
            return _f("ACC-05", p, f"payment {p.pid}: {side} account {masked} is {acct.status}")
    return None


def acc06_back_to_payer(p: Pay, payee: Account | None) -> Finding | None:
    """ACC-06: the money flows back to the paying unit (its own account, or an account registered to it)."""
    if p.payee_acct == p.payer_acct or (payee is not None and payee.unit and payee.unit == p.payer_unit) \
            or same_name(p.payee_name, p.payer_name):
        return _f("ACC-06", p, f"payment {p.pid} of {p.amount} yuan from {p.payer_name} goes to {p.payee_masked}, "
                               f"an account of the paying unit itself")
    return None
