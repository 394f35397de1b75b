"""Project performance (绩效): targets, progress, self-evaluation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from contracts.base import Data
from contracts.types import Identifier, ProjectCode


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
    deadline: dt.date


class PerformanceTargetsSet(Data):
    project_code: ProjectCode
    indicator_id: Identifier | None = None
    targets: list[Target] = Field(min_length=1, max_length=100)
    set_on: dt.date


class PerformanceProgressReported(Data):
    report_id: Identifier
    project_code: ProjectCode
    metric_id: Identifier
    actual_value: Decimal = Field(ge=0, max_digits=16, decimal_places=4)
    period_end: dt.date
    reported_on: dt.date


class PerformanceSelfEvaluated(Data):
    project_code: ProjectCode
    score: Decimal = Field(ge=0, le=100, decimal_places=2)
    target_score: Decimal = Field(ge=0, le=100, decimal_places=2)
    findings: str | None = Field(None, max_length=1000)
    evaluated_on: dt.date
