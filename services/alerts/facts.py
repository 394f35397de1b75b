"""The facts the alerts engine works on: one class per kind, each about one entity (`key`).

`ingress.facts_of(event)` turns a contract event into facts; the router sends them on the
alerts' internal work topic, partitioned by `key`, so everything about a person or an account —
whichever county paid — meets in one place (BEN-04, ACC-02 across regions). Keys:

    P:<hash>  person        A:<hash>  bank account   E:<code>  enterprise   J:<code>  project
    T:<id>    issued transfer (vertical or horizontal)  I:<id>  indicator    F:<code>  fund
    L:<id>    alert (findings and dispositions)          *         broadcast: every partition keeps it

The wire form is msgpack with the class named by the tag `f` (`Work` is one message of the
work topic). Every fact carries `src`, the source record it came from, so a record routed again
after a restart is recognised (`engine.Engine.process`)."""

from __future__ import annotations

from typing import Union

import msgspec

from services.alerts.findings import Evidence, Finding
from services.alerts.model import Allocation, Fund, IndicatorDoc, Line, Pay, Posting, Record, Registration
from services.alerts.watermarks import LedgerPosition, PartitionProgress

BROADCAST = "*"


class Fact(msgspec.Struct, tag_field="f", kw_only=True, array_like=True):
    key: str
    src: tuple[str, int] | None = None  # (topic:partition, offset) of the source record


# ------------------------------------------------------------------ persons (P:)


class PersonRegistered(Fact, tag="registry"):
    """A poor-household registry entry (建档立卡), in force from `since`."""

    event_id: str
    at: str
    status: str
    since: str
    household: str | None = None


class PersonRecorded(Fact, tag="record"):
    """An external record about a person (deed tax, vehicle, public employment, death)."""

    record: Record


class RepresentativeNamed(Fact, tag="rep"):
    """The person is the legal representative of an enterprise (from its business registration)."""

    enterprise: str
    ev: Evidence


class BeneficiaryPaid(Fact, tag="line"):
    """A payment reached this person (a subsidy line, or the individual payee)."""

    pay: Pay
    line: Line


# ------------------------------------------------------------------ bank accounts (A:)


class AccountRegistered(Fact, tag="account"):
    registration: Registration


class PayeeAccountPaid(Fact, tag="payee"):
    """Money paid into this account (the payment's payee account)."""

    pay: Pay


class CardAccountPaid(Fact, tag="card"):
    """One person's share of a subsidy payment paid into this card account (a subsidy line's account)."""

    pay: Pay
    line: Line


class PayerAccountPaid(Fact, tag="payer"):
    """Money paid out of this account."""

    pay: Pay


# ------------------------------------------------------------------ enterprises (E:)


class BusinessRegistered(Fact, tag="business"):
    record: Record
    representative: str | None = None


class BusinessStatusRecorded(Fact, tag="status"):
    record: Record


class RepresentativeEmployed(Fact, tag="staff"):
    """Derived: the enterprise's legal representative is on the staff of `unit` (BEN-08)."""

    unit: str
    ev: Evidence


class EnterprisePaid(Fact, tag="epay"):
    pay: Pay


# ------------------------------------------------------------------ projects (J:)


class ProjectRegistered(Fact, tag="project"):
    start: str
    end: str
    fund: str | None = None
    name: str = ""


class ProjectAllocated(Fact, tag="palloc"):
    allocation: Allocation


class ProjectPaid(Fact, tag="ppay"):
    pay: Pay


class Target(msgspec.Struct, frozen=True, array_like=True):
    metric: str
    name: str
    value: str  # decimal
    deadline: str


class TargetsSet(Fact, tag="targets"):
    event_id: str
    on: str
    region: str
    indicator_id: str | None
    targets: tuple[Target, ...]
    ev: Evidence


class ProgressReported(Fact, tag="progress"):
    report_id: str
    metric: str
    value: str  # decimal
    period_end: str
    on: str
    region: str
    at: str
    ev: Evidence


# ------------------------------------------------------------------ issued transfers (T:)


class TransferIssued(Fact, tag="issue"):
    """An upper level issued (下达) a transfer, or a region allocated a horizontal transfer."""

    doc: IndicatorDoc


class TransferAllocated(Fact, tag="halloc"):
    """A region allocated a horizontal transfer (地区间横向转移支付) to another region: a transfer the
    receiver registers against, like an issue (its fund and year are the giving indicator's)."""

    allocation: Allocation
    doc_no: str | None
    doc_date: str | None
    scan: bool


class TransferReceived(Fact, tag="receipt"):
    """The receiver registered an indicator received against the transfer (指标关联)."""

    doc: IndicatorDoc


class InterlockReported(Fact, tag="interlock"):
    """The ledger's interlock (咬合) of the transfer: issued against received."""

    state: str
    issued: str
    received: str
    receipts: tuple[str, ...]
    fund: str | None
    region: str
    at: str
    ev: Evidence


# ------------------------------------------------------------------ indicators (I:)


class IndicatorRegistered(Fact, tag="ireg"):
    doc: IndicatorDoc
    level: str


class IndicatorAllocated(Fact, tag="ialloc"):
    allocation: Allocation


class IndicatorCompiled(Fact, tag="compiled"):
    on: str
    ev: Evidence


class PostingBooked(Fact, tag="post"):
    posting: Posting


# ------------------------------------------------------------------ funds (F:)


class FundDesignated(Fact, tag="designated"):
    upper: str | None
    region: str
    ev: Evidence


class FundLinked(Fact, tag="link"):
    upper: str
    region: str
    ev: Evidence


# ------------------------------------------------------------------ broadcast (*)


class FundCatalogued(Fact, tag="fund"):
    fund: Fund


class GroupRouted(Fact, tag="route"):
    scope: str
    group: str
    funds: tuple[str, ...]
    at: str


class IndicatorKnown(Fact, tag="imeta"):
    indicator_id: str
    fund: str
    year: int
    region: str


# ------------------------------------------------------------------ alerts (L:)


class FindingRaised(Fact, tag="finding"):
    finding: Finding


class DispositionRequested(Fact, tag="dispose"):
    at: str
    disposition_id: str
    alert_id: str
    action: str
    actor: str
    findings: str
    method: str | None = None
    corrective_actions: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()


AnyFact = Union[  # noqa: UP007 - a tagged union msgspec decodes by `f`
    PersonRegistered, PersonRecorded, RepresentativeNamed, BeneficiaryPaid,
    AccountRegistered, PayeeAccountPaid, CardAccountPaid, PayerAccountPaid,
    BusinessRegistered, BusinessStatusRecorded, RepresentativeEmployed, EnterprisePaid,
    ProjectRegistered, ProjectAllocated, ProjectPaid, TargetsSet, ProgressReported,
    TransferIssued, TransferAllocated, TransferReceived, InterlockReported,
    IndicatorRegistered, IndicatorAllocated, IndicatorCompiled, PostingBooked,
    FundDesignated, FundLinked,
    FundCatalogued, GroupRouted, IndicatorKnown,
    FindingRaised, DispositionRequested,
]


class Work(msgspec.Struct, kw_only=True):
    """One message of the work topic: the facts of a routing round for one partition, with how far
    every input partition has been read (the router's view of time), or a forward of facts that
    an entity derived for another partition (`origin`: the message that derived them)."""

    facts: list[AnyFact] = msgspec.field(default_factory=list)
    progress: dict[str, PartitionProgress] = msgspec.field(default_factory=dict)
    ledger: dict[str, dict[str, LedgerPosition]] = msgspec.field(default_factory=dict)
    wall: float = 0.0
    cfg: dict[str, int] | None = None  # how far the rule configuration was read when these were judged
    origin: tuple[int, int] | None = None
    tick: bool = False


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Work)


def encode(work: Work) -> bytes:
    return _encoder.encode(work)


def decode(raw: bytes) -> Work:
    return _decoder.decode(raw)
