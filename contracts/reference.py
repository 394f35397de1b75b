"""Reference data (基础数据): regions, funds, projects, groups, accounts, the poor-household
registry and external records. Upstream registries emit these; every service builds its
lookups from them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from contracts.base import Data
from contracts.types import (
    AccountNo,
    BusinessDate,
    CitizenId,
    FunctionalClass,
    FundCode,
    Money,
    ProjectCode,
    RegionCode,
    RegionLevel,
    Text,
)


class RegionRegistered(Data):
    """An administrative division (行政区划)."""

    code: RegionCode
    name: str = Field(min_length=1, max_length=60)
    level: RegionLevel
    parent: RegionCode | None = None


class FundLevel(StrEnum):
    central = "central"
    provincial = "provincial"
    city = "city"
    county = "county"


class FundRegistered(Data):
    """A special fund in the catalogue (专项资金). A local fund designates exactly one upper
    fund (指定关联); many local funds may designate the same upper fund."""

    fund_code: FundCode
    name: str = Field(min_length=1, max_length=120)
    level: FundLevel
    upper_fund_code: FundCode | None = Field(None, description="designated upper fund (指定关联)")
    functional_classes: list[FunctionalClass] = Field(
        default_factory=list, description="functional classes the fund may be spent on (scope)"
    )
    group_code: str | None = Field(None, max_length=40, description="responsible group (主管科室)")
    for_households: bool = Field(False, description="the fund is paid per person/household (到人到户)")


class FundLinked(Data):
    """A local fund linked to an upper fund after registration (a second link is a finding)."""

    fund_code: FundCode
    upper_fund_code: FundCode


class ProjectRegistered(Data):
    """A project in the project library (项目库), uniform code, possibly multi-year."""

    project_code: ProjectCode
    name: str = Field(min_length=1, max_length=200)
    fund_code: FundCode | None = None
    category: str = Field("infrastructure", max_length=40)
    implementing_unit: str | None = Field(None, max_length=120)
    start_date: BusinessDate
    end_date: BusinessDate

    @model_validator(mode="after")
    def _period(self) -> ProjectRegistered:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class GroupAssigned(Data):
    """Responsibility (谁主管、谁负责): a group owns funds within the envelope's region scope."""

    group_code: str = Field(min_length=1, max_length=40)
    group_name: str = Field(min_length=1, max_length=60)
    fund_codes: list[FundCode] = Field(default_factory=list, description="empty = every fund")
    department: str | None = Field(None, max_length=60)


class AccountKind(StrEnum):
    designated = "designated"  # 指定账户 (zero-balance / payment accounts of a budget unit)
    special = "special"  # 财政专户
    unit = "unit"
    personal = "personal"


class AccountStatus(StrEnum):
    active = "active"
    closed = "closed"
    frozen = "frozen"


class AccountRegistered(Data):
    """A bank account known to the treasury: designated accounts, special accounts, their status.

    A later registration of the same account replaces its kind, holder and status from
    `effective_on` on (a freeze, a closure); payments are judged by the status on their date."""

    account: AccountNo
    holder_name: str = Field(min_length=1, max_length=120)
    kind: AccountKind
    status: AccountStatus = AccountStatus.active
    unit_code: str | None = Field(None, max_length=40)
    effective_on: BusinessDate | None = Field(None, description="the day this registration took effect "
                                              "(None: the account has been so since it was opened)")


class HouseholdStatus(StrEnum):
    poor = "poor"  # 建档立卡贫困户
    stable = "stable"  # 稳定脱贫（不再享受政策）
    removed = "removed"


class HouseholdMemberRegistered(Data):
    """One person of the poor-household registry (建档立卡)."""

    person: CitizenId
    name: str = Field(min_length=1, max_length=60)
    household_id: str = Field(min_length=1, max_length=40)
    status: HouseholdStatus = HouseholdStatus.poor
    since: BusinessDate = Field(description="the day this status took effect (the registry's 标注日期)")


class ExternalKind(StrEnum):
    deed_tax = "deed_tax"  # 契税
    vehicle = "vehicle"
    business_registration = "business_registration"
    business_status = "business_status"  # deregistered / revoked / abnormal / dishonest
    public_employee = "public_employee"
    death = "death"


class ExternalRecorded(Data):
    """A record from an external registry (tax, business, housing, civil affairs)."""

    record_id: str = Field(min_length=1, max_length=60)
    kind: ExternalKind
    person: CitizenId | None = None
    enterprise_code: str | None = Field(None, pattern=r"^[0-9A-Z]{18}$", description="统一社会信用代码")
    record_date: BusinessDate
    amount: Money | None = None
    status: str | None = Field(None, max_length=40)
    related_person: CitizenId | None = Field(None, description="e.g. an enterprise's legal representative")
    unit_code: str | None = Field(None, max_length=40, description="public_employee: the unit that employs the person "
                                  "(staff list of a paying office, BEN-08)")
    details: Text | None = None

    @model_validator(mode="after")
    def _subject(self) -> ExternalRecorded:
        if self.person is None and self.enterprise_code is None:
            raise ValueError("an external record names a person or an enterprise_code")
        return self
