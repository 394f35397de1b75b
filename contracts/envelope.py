"""The CloudEvents 1.0 envelope and the registry of every event type.

`parse_event(raw)` is the one way to turn wire data into a typed event; `EVENT_TYPES`
maps each `type` to its payload model and topic family."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    create_model,
    model_validator,
)

from contracts import alert, audit, control, indicator, ledger, payment, performance, reference
from contracts.base import Data, check_strings
from contracts.topics import Family
from contracts.types import Identifier, RegionCode, fiscal_unit

AuthType = Literal["app_user", "user", "service_account", "api_key", "system", "unauthenticated", "unknown"]
AUTH_ATTRIBUTES = ("authtype", "authid", "authclaims")
"""The CloudEvents Auth Context attributes: the platform's to set, never upstream's."""
EXTENSIONS = ("region", "traceparent", "tracestate", "authtype", "authid")
"""The CloudEvents extension attributes an envelope carries (beyond the spec's context attributes)."""


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes plus `region` (GB/T 2260 code of the fiscal unit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: Identifier = Field(description="globally unique event id; the idempotency key")
    source: str = Field(min_length=1, max_length=200, description="emitting system, e.g. /budget-execution/410324")
    type: str
    time: AwareDatetime
    subject: str | None = Field(None, max_length=200)
    region: RegionCode
    datacontenttype: Literal["application/json"] = "application/json"
    # CloudEvents Auth Context extension: who the platform authenticated as the producer. Ingest
    # stamps them from the API key; an upstream system that sets them itself is refused.
    authtype: AuthType | None = Field(None, description="how the producer was authenticated (set by ingest)")
    authid: str | None = Field(None, max_length=100, description="the authenticated client (set by ingest)")
    # CloudEvents Distributed Tracing extension (W3C Trace Context): carried to the alert the event causes.
    traceparent: str | None = Field(None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                                    description="W3C traceparent of the upstream operation")
    tracestate: str | None = Field(None, max_length=512, description="W3C tracestate (vendor trace data)")
    data: Data

    @model_validator(mode="after")
    def _no_control_characters(self, info: ValidationInfo) -> Envelope:
        check_strings(self, info)
        return self

    @property
    def family(self) -> Family:
        return EVENT_TYPES[self.type][1]

    @property
    def key(self) -> bytes:
        return fiscal_unit(self.region).encode()

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


EVENT_TYPES: dict[str, tuple[type[Data], Family]] = {
    "region.registered": (reference.RegionRegistered, Family.reference),
    "fund.registered": (reference.FundRegistered, Family.reference),
    "fund.linked": (reference.FundLinked, Family.reference),
    "project.registered": (reference.ProjectRegistered, Family.reference),
    "group.assigned": (reference.GroupAssigned, Family.reference),
    "account.registered": (reference.AccountRegistered, Family.reference),
    "household.registered": (reference.HouseholdMemberRegistered, Family.reference),
    "external.recorded": (reference.ExternalRecorded, Family.reference),
    "indicator.registered": (indicator.IndicatorRegistered, Family.indicator),
    "indicator.issued": (indicator.IndicatorIssued, Family.indicator),
    "indicator.allocated": (indicator.IndicatorAllocated, Family.indicator),
    "indicator.corrected": (indicator.IndicatorCorrected, Family.indicator),
    "indicator.compiled": (indicator.IndicatorCompiled, Family.indicator),
    "payment.planned": (payment.PaymentPlanned, Family.payment),
    "payment.made": (payment.PaymentMade, Family.payment),
    "payment.returned": (payment.PaymentReturned, Family.payment),
    "performance.targets_set": (performance.PerformanceTargetsSet, Family.performance),
    "performance.progress_reported": (performance.PerformanceProgressReported, Family.performance),
    "performance.self_evaluated": (performance.PerformanceSelfEvaluated, Family.performance),
    "ledger.posting_applied": (ledger.PostingApplied, Family.ledger),
    "ledger.interlock_checked": (ledger.InterlockChecked, Family.ledger),
    "ledger.balance_exceeded": (ledger.BalanceExceeded, Family.ledger),
    "ledger.fund_link_conflict": (ledger.FundLinkConflict, Family.ledger),
    "ledger.progress": (ledger.LedgerProgress, Family.ledger),
    "alert.transitioned": (alert.AlertTransitioned, Family.alert),
    "alert.disposition_refused": (alert.DispositionRefused, Family.alert),
    "alert.reminded": (alert.AlertReminded, Family.alert),
    "alert.disposition_filed": (control.DispositionFiled, Family.alert_command),
    "rule.configured": (control.RuleConfigured, Family.rule_config),
    "notification.delivered": (alert.NotificationDelivered, Family.notification),
    "audit.recorded": (audit.AuditRecorded, Family.audit),
}


def _class_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split(".")) + "Event"


ENVELOPES: dict[str, type[Envelope]] = {
    name: create_model(
        _class_name(name),
        __base__=Envelope,
        __doc__=model.__doc__,
        type=(Literal[name], ...),  # type: ignore[arg-type]  # a Literal built at runtime
        data=(model, ...),
    )
    for name, (model, _family) in EVENT_TYPES.items()
}

AnyEvent = Annotated[Union[tuple(ENVELOPES.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007 - built at runtime
_ADAPTER: TypeAdapter[Envelope] = TypeAdapter(AnyEvent)  # type: ignore[arg-type]
_BATCH_ADAPTER: TypeAdapter[list[Envelope]] = TypeAdapter(list[AnyEvent])  # type: ignore[valid-type]


def parse_event(raw: bytes | str | dict[str, Any], *, pii_key: bytes | None = None) -> Envelope:
    """Validate one event. With `pii_key` (ingest only) clear citizen IDs and account numbers
    are replaced by their keyed hash; without it they are refused."""
    context = {"pii_key": pii_key, "from_log": pii_key is None}
    if isinstance(raw, dict):
        return _ADAPTER.validate_python(raw, context=context)
    return _ADAPTER.validate_json(raw, context=context)


def parse_batch(raw: list[dict[str, Any]], *, pii_key: bytes | None = None) -> list[Envelope]:
    return _BATCH_ADAPTER.validate_python(raw, context={"pii_key": pii_key, "from_log": pii_key is None})


def make_event(
    event_type: str,
    data: Data,
    *,
    id: str,
    region: str,
    time: dt.datetime,
    source: str = "fundwatch",
    subject: str | None = None,
) -> Envelope:
    """Build a typed envelope (producers inside the platform use this)."""
    return ENVELOPES[event_type](id=id, source=source, type=event_type, time=time, subject=subject, region=region, data=data)


def event_schema(families: tuple[Family, ...] | None = None, ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """The JSON Schema of any event (of `families`: ingest documents only what it takes);
    `ref_template` places its definitions (an OpenAPI document wants #/components/schemas/{model})."""
    if families is None:
        return _ADAPTER.json_schema(ref_template=ref_template)
    members = tuple(ENVELOPES[name] for name, (_model, family) in EVENT_TYPES.items() if family in families)
    union = Annotated[Union[members], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    adapter: TypeAdapter[Envelope] = TypeAdapter(union)
    return adapter.json_schema(ref_template=ref_template)


SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:fundwatch:schema:v1:{name}"


def json_schemas(examples: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """JSON Schema per event type plus `event` (any of them), for upstream teams: each with its
    dialect (`$schema`), its `$id` and, where `examples` has one, an example event."""
    schemas = {name: env.model_json_schema() for name, env in ENVELOPES.items()}
    schemas["event"] = _ADAPTER.json_schema()
    examples = examples or {}
    for name, schema in schemas.items():
        schema["$schema"] = SCHEMA_DIALECT
        schema["$id"] = SCHEMA_ID.format(name=name)
        found = [examples[name]] if name in examples else list(examples.values())[:3] if name == "event" else []
        if found:
            schema["examples"] = found
    return schemas


def dumps_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
