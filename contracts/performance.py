"""Project performance (绩效): targets, progress, self-evaluation."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from contracts.base import Data
from contracts.types import BusinessDate, Identifier, ProjectCode


class TargetKind(StrEnum):
    output_quantity = "output_quantity"
    output_quality = "output_quality"
    timeliness = "timeliness"
    cost = "cost"
    benefit = "benefit"
    satisfaction = "satisfaction"


class Target(Data):
    metric_id: Identifier
    kind: TargetKind
    name: str = Field(min_length=1, max_length=120)
    unit: str = Field(max_length=20)
    target_value: Decimal = Field(ge=0, max_digits=16, decimal_places=4)
    deadline: BusinessDate


class PerformanceTargetsSet(Data):
    project_code: ProjectCode
    indicator_id: Identifier | None = None
    targets: list[Target] = Field(min_length=1, max_length=100)
    set_on: BusinessDate


class PerformanceProgressReported(Data):
    report_id: Identifier
    project_code: ProjectCode
    metric_id: Identifier
    actual_value: Decimal = Field(ge=0, max_digits=16, decimal_places=4)
    period_end: BusinessDate
    reported_on: BusinessDate


class PerformanceSelfEvaluated(Data):
    """A project's performance self-evaluation (绩效自评): `score` against `target_score`, both on
    the evaluation's own scale (`scale`: 100 for the usual 百分制, 10, 5 …)."""

    project_code: ProjectCode
    score: Decimal = Field(ge=0, max_digits=7, decimal_places=2)
    target_score: Decimal = Field(ge=0, max_digits=7, decimal_places=2)
    scale: Decimal = Field(Decimal(100), gt=0, max_digits=7, decimal_places=2, description="the highest score possible")
    findings: str | None = Field(None, max_length=1000)
    evaluated_on: BusinessDate

    @model_validator(mode="after")
    def _on_scale(self) -> PerformanceSelfEvaluated:
        if self.score > self.scale or self.target_score > self.scale:
            raise ValueError(f"score and target_score lie on the scale 0–{self.scale}")
        return self
