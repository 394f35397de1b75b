"""The chart of accounts of the indicator ledger (总台账, seed 004), as every service reads it.

Postings on the ledger topic (`ledger.posting_applied`) move money between these accounts;
balances are reported on each account's natural side. What an account *means* — which moves
allocate, which pay, what an indicator has left to spend — is said here once, so the ledger's
statistics and the alert rules read the same definitions instead of copying account codes.

    1001   total indicator (总指标)                   debit   registered, not yet available
    4001   current-year arranged revenue (本年安排收入) credit  source of every indicator
    5001   pending allocation (待分配指标)             debit
    500201 own-level expenditure (本级支出指标)        debit
    500202 transfer to lower level (对下级转移支付指标) debit
    500203 horizontal transfer (地区间横向转移支付指标) debit
    5101   centralised payment plan (集中支付计划)     debit
    5201   actual payment (本级实际支付)               debit
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Account(StrEnum):
    total = "1001"
    revenue = "4001"
    pending = "5001"
    own_spending = "500201"
    lower_transfer = "500202"
    horizontal = "500203"
    payment_plan = "5101"
    paid = "5201"


NAMES: dict[Account, str] = {
    Account.total: "总指标",
    Account.revenue: "本年安排收入",
    Account.pending: "待分配指标",
    Account.own_spending: "本级支出指标",
    Account.lower_transfer: "对下级转移支付指标",
    Account.horizontal: "地区间横向转移支付指标",
    Account.payment_plan: "集中支付计划",
    Account.paid: "本级实际支付",
}
CREDIT_ACCOUNTS = frozenset({Account.revenue})
CHART: tuple[Account, ...] = tuple(Account)
ALLOCATED = (Account.own_spending, Account.lower_transfer, Account.horizontal)
"""Where pending money goes when it is allocated (分配) or passed on (下达)."""
PASSED_ON = (Account.lower_transfer, Account.horizontal)
"""Money the indicator passed to another region: not spent here, and not this region's to spend."""


def natural(account: str, debit_positive: int) -> int:
    """A debit-positive balance on the account's natural side (credit accounts positive in credit)."""
    return -debit_positive if account in CREDIT_ACCOUNTS else debit_positive


def debit_positive(account: str, natural_balance: int) -> int:
    return -natural_balance if account in CREDIT_ACCOUNTS else natural_balance


def spending_base(balances: Mapping[str, int]) -> int:
    """What an indicator has for its own spending (natural-side balances in fen): what it received
    (4001), less what is not available yet (1001: an advance issue not compiled) and what it passed
    on to lower levels or other regions (500202, 500203). The base of spending progress (seed 002)."""
    get = lambda a: int(balances.get(a, 0))  # noqa: E731
    return get(Account.revenue) - get(Account.total) - sum(get(a) for a in PASSED_ON)


def available_for_payment(balances: Mapping[str, int], *, via_plan: bool) -> int:
    """What a payment may draw on (natural side, fen): the payment plan (5101) when it pays a plan,
    else the own-spending indicator (500201)."""
    return int(balances.get(Account.payment_plan if via_plan else Account.own_spending, 0))
