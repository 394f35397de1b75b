"""Commands and configuration for the alerts service: dispositions (处理单) posted by the
responsible group, and per-budget-year rule configuration set by the upper bureau."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from contracts.alert import AlertLevel
from contracts.base import Data
from contracts.types import CENTRAL, Identifier, Money, RegionCode


class DispositionAction(StrEnum):
    verify_normal = "verify_normal"  # yellow → green
    verify_violation = "verify_violation"  # yellow → red
    rectify = "rectify"  # red → green


class VerificationMethod(StrEnum):
    phone = "phone"  # 电话核实
    documents = "documents"  # 调阅材料
    interview = "interview"  # 约谈
    visit = "visit"  # 走访


class CorrectiveAction(StrEnum):
    recover = "recover"  # 收回资金
    suspend = "suspend"  # 暂缓拨付
    notice = "notice"  # 通报
    referral = "referral"  # 移交相关部门


class DispositionFiled(Data):
    """A disposition form (处理单) for one alert; the alerts state machine decides if it applies."""

    disposition_id: Identifier
    alert_id: Identifier
    action: DispositionAction
    actor: str = Field(min_length=1, max_length=60)
    group_code: str = Field(min_length=1, max_length=40)
    method: VerificationMethod | None = None
    corrective_actions: list[CorrectiveAction] = Field(default_factory=list)
    findings: str = Field(min_length=1, max_length=2000)
    attachments: list[str] = Field(default_factory=list, max_length=20, description="references to stored files")
    amount_recovered: Money | None = Field(None, description="yuan recovered (追回资金), with the `recover` action")
    amount_suspended: Money | None = Field(None, description="yuan suspended (暂停拨付), with the `suspend` action")

    @model_validator(mode="after")
    def _complete(self) -> DispositionFiled:
        if self.action != DispositionAction.rectify and self.method is None:
            raise ValueError("a verification names its method (phone/documents/interview/visit)")
        if self.action == DispositionAction.rectify and not self.corrective_actions:
            raise ValueError("a rectification names at least one corrective action")
        # an amount states what its action did: without the action it would be counted for nothing
        if self.amount_recovered is not None and CorrectiveAction.recover not in self.corrective_actions:
            raise ValueError("amount_recovered goes with the corrective action recover")
        if self.amount_suspended is not None and CorrectiveAction.suspend not in self.corrective_actions:
            raise ValueError("amount_suspended goes with the corrective action suspend")
        return self


class RuleConfigured(Data):
    """Configuration of one rule for one budget year within one region scope (art. 18: levels are
    set by the upper bureau). The Ministry (`000000`) sets the defaults; a province or city
    overrides them for its own region and below; the most specific scope containing an alert's
    region applies (services/alerts/config.py resolves it)."""

    rule_id: str = Field(pattern=r"^[A-Z]+-[0-9]{2}$")
    budget_year: int = Field(ge=2000, le=2100)
    scope: RegionCode = Field(CENTRAL, description="the region this configuration applies to, and every region under it")
    enabled: bool = True
    shadow: bool = Field(False, description="evaluate and record, but do not notify")
    level: AlertLevel | None = None
    escalate_to: AlertLevel | None = Field(None, description="bell rules: level when the deadline passes")
    lead_time_days: int | None = Field(None, ge=0, le=365, description="bell raised this many working days ahead")
    params: dict[str, str | int | bool] = Field(default_factory=dict, description="thresholds; decimals as strings")
    checkpoints: list[str] = Field(default_factory=list, description="MM-DD dates of progress checkpoints")
    set_by: str = Field("system", max_length=60)
