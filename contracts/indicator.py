"""Budget indicators (预算指标): registration, issue to a lower level, allocation, red-ink
correction. The envelope's `region` is always the fiscal unit whose books the event touches."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from contracts.base import Data
from contracts.types import (
    BudgetYear,
    BusinessDate,
    EconomicClass,
    FunctionalClass,
    FundCode,
    Identifier,
    Money,
    ProjectCode,
    RegionCode,
)


class IndicatorSource(StrEnum):
    own_arrangement = "own_arrangement"  # 本级安排
    upper_transfer = "upper_transfer"  # 上级转移支付 (linked to the upper indicator: 指标关联)
    horizontal_transfer = "horizontal_transfer"  # 地区间横向转移支付 received from another region (e.g. 东西部协作)
    carry_over = "carry_over"  # 上年结转


class IndicatorRegistered(Data):
    """An indicator registered in the books of the envelope's region (指标登记/接收).

    With `source=upper_transfer`, `upper_indicator_id` names the upper level's issued
    indicator it was received from; with `source=horizontal_transfer` it names the giving
    region's horizontal allocation (`allocation_id`) and `upper_region` the giving region. The
    ledger checks the interlock (咬合) against either; neither is new money in any scale."""

    indicator_id: Identifier
    fund_code: FundCode
    amount: Money
    budget_year: BudgetYear
    doc_no: str = Field(min_length=1, max_length=120, description="指标文号, e.g. 豫财农〔2026〕12号")
    doc_date: BusinessDate
    functional_class: FunctionalClass
    economic_class: EconomicClass | None = None
    budget_project: str | None = Field(None, max_length=200)
    source: IndicatorSource = IndicatorSource.own_arrangement
    upper_indicator_id: Identifier | None = None
    upper_region: RegionCode | None = None
    advance_issue: bool = Field(False, description="提前下达: compiled into the next year's budget")
    doc_scan_ref: str | None = Field(None, max_length=300, description="reference to the document scan")
    registered_on: BusinessDate
    origin_year: BudgetYear | None = Field(
        None, description="carry_over: the budget year the money was first arranged for (上年结转的原预算年度)")

    @model_validator(mode="after")
    def _link(self) -> IndicatorRegistered:
        if self.source == IndicatorSource.upper_transfer and not self.upper_indicator_id:
            raise ValueError("an upper_transfer registration names upper_indicator_id (指标关联)")
        if self.source == IndicatorSource.horizontal_transfer and not (self.upper_indicator_id and self.upper_region):
            raise ValueError("a horizontal_transfer registration names upper_indicator_id (the giver's allocation_id) "
                             "and upper_region (the giving region)")
        if self.origin_year is not None and self.source != IndicatorSource.carry_over:
            raise ValueError("origin_year applies to a carry_over registration only")
        if self.origin_year is not None and self.origin_year >= self.budget_year:
            raise ValueError("a carry-over's origin_year lies before its budget_year")
        return self


class IndicatorIssued(Data):
    """The envelope's region issues (下达) part of its indicator to a lower region."""

    indicator_id: Identifier = Field(description="id of the issued transfer indicator")
    from_indicator_id: Identifier = Field(description="the issuer's own indicator it is drawn from")
    to_region: RegionCode
    fund_code: FundCode
    amount: Money
    budget_year: BudgetYear
    doc_no: str = Field(min_length=1, max_length=120)
    doc_date: BusinessDate
    functional_class: FunctionalClass
    advance_issue: bool = False
    doc_scan_ref: str | None = Field(None, max_length=300)
    issued_on: BusinessDate


class AllocationKind(StrEnum):
    own_spending = "own_spending"  # 本级支出 → 500201
    horizontal = "horizontal"  # 地区间横向转移支付 → 500203
    project = "project"  # to a project at this level → 500201 with project


class IndicatorAllocated(Data):
    """Allocation (分配) of an indicator at the envelope's region."""

    allocation_id: Identifier
    indicator_id: Identifier
    kind: AllocationKind
    amount: Money
    project_code: ProjectCode | None = None
    project_name: str | None = Field(None, max_length=200)
    to_region: RegionCode | None = None
    functional_class: FunctionalClass | None = None
    economic_class: EconomicClass | None = None
    allocated_on: BusinessDate
    doc_no: str | None = Field(None, min_length=1, max_length=120, description="文号 of the allocation document "
                               "(a horizontal transfer is issued by document like a vertical one)")
    doc_date: BusinessDate | None = None
    doc_scan_ref: str | None = Field(None, max_length=300, description="reference to the document scan")

    @model_validator(mode="after")
    def _targets(self) -> IndicatorAllocated:
        if self.kind == AllocationKind.project and not self.project_code:
            raise ValueError("a project allocation names project_code")
        if self.kind == AllocationKind.horizontal and not self.to_region:
            raise ValueError("a horizontal transfer names to_region")
        return self


class IndicatorCorrected(Data):
    """Red-ink correction (红字更正): reverses the event `corrects_event_id` and, unless
    `corrected_amount` is None (a cancellation), re-posts it with the corrected amount."""

    correction_id: Identifier
    corrects_event_id: Identifier
    corrected_amount: Money | None = None
    reason: str = Field(min_length=1, max_length=300)
    corrected_on: BusinessDate
    doc_no: str | None = Field(None, min_length=1, max_length=120, description="文号 of the correction document")
    doc_scan_ref: str | None = Field(None, max_length=300, description="reference to the document scan")


class IndicatorCompiled(Data):
    """An advance-issued indicator (提前下达) compiled into the budget of its year (编入预算):
    its amount moves from total indicator (1001) into pending allocation (5001)."""

    indicator_id: Identifier
    amount: Money
    budget_year: BudgetYear
    compiled_on: BusinessDate
