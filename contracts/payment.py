"""Payments (资金支付) from treasury, special accounts and the subsidy card system."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from contracts.base import Data
from contracts.types import (
    AccountNo,
    BusinessDate,
    CitizenId,
    EconomicClass,
    Identifier,
    Money,
    ProjectCode,
    SubsidyPeriod,
)


class PayeeKind(StrEnum):
    enterprise = "enterprise"
    individual = "individual"
    unit = "unit"


class Settlement(StrEnum):
    transfer = "transfer"
    cash = "cash"
    cheque = "cheque"


class Channel(StrEnum):
    direct = "direct"  # 国库集中支付 直接支付
    authorised = "authorised"  # 授权支付
    subsidy_card = "subsidy_card"  # 惠民补贴一卡通
    special_account = "special_account"  # 财政专户


class Payer(Data):
    unit_code: str = Field(min_length=1, max_length=40)
    unit_name: str = Field(min_length=1, max_length=120)
    account: AccountNo


class Payee(Data):
    kind: PayeeKind
    name: str = Field(min_length=1, max_length=120)
    person: CitizenId | None = Field(None, description="individual payee's citizen ID")
    enterprise_code: str | None = Field(None, pattern=r"^[0-9A-Z]{18}$")
    account: AccountNo
    account_holder: str = Field(min_length=1, max_length=120, description="name on the bank account")

    @model_validator(mode="after")
    def _who(self) -> Payee:
        if self.kind == PayeeKind.individual and self.person is None:
            raise ValueError("an individual payee names person (citizen ID)")
        return self


class SubsidyLine(Data):
    """Per-person line of a subsidy payment (到人到户): payable (应发) and paid (实发)."""

    person: CitizenId
    name: str = Field(min_length=1, max_length=60)
    household_id: str | None = Field(None, max_length=40)
    subsidy_type: str | None = Field(None, max_length=60)
    period: SubsidyPeriod | None = Field(None, description="the period the subsidy is for (补贴所属期); without it, "
                                         "the calendar year of the payment date")
    account: AccountNo | None = Field(None, description="the card or account this person was paid into (一卡通账户)")
    payable: Money
    paid: Money


class PaymentPlanned(Data):
    """Centralised payment plan (集中支付计划) against an allocation."""

    plan_id: Identifier
    indicator_id: Identifier
    amount: Money
    planned_on: BusinessDate


class PaymentMade(Data):
    """A payment. `payment_date` missing means the record is not a valid payment (seed 002)."""

    payment_id: Identifier
    indicator_id: Identifier
    plan_id: Identifier | None = None
    project_code: ProjectCode | None = None
    payer: Payer
    payee: Payee
    amount: Money
    payment_date: BusinessDate | None
    valid: bool = True
    purpose: str = Field(min_length=1, max_length=300)
    settlement: Settlement = Settlement.transfer
    channel: Channel = Channel.direct
    economic_class: EconomicClass | None = None
    approval_no: str | None = Field(None, max_length=60)
    subsidy_lines: list[SubsidyLine] = Field(default_factory=list, max_length=5000)

    @model_validator(mode="after")
    def _lines_add_up(self) -> PaymentMade:
        if self.subsidy_lines:
            paid = sum((line.paid for line in self.subsidy_lines), start=type(self.amount)(0))
            if paid != self.amount:
                raise ValueError(f"subsidy_lines paid total {paid} differs from amount {self.amount}")
        return self


class PaymentReturned(Data):
    """Money returned to the indicator (退回/冲销) after a payment."""

    return_id: Identifier
    payment_id: Identifier
    indicator_id: Identifier
    amount: Money
    returned_on: BusinessDate
    reason: str = Field(min_length=1, max_length=300)
