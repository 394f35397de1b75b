"""Recipient rules (收款企业和受益贫困户)."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.payment import PaymentMade, PayeeKind
from contracts.reference import HouseholdStatus
from services.alerts.findings import Finding


@dataclass(frozen=True)
class BeneficiaryCheck:
    """One person paid by one payment: the unit every beneficiary rule looks at."""

    event_id: str
    region: str
    payment_id: str
    person_hash: str
    person_masked: str
    name: str
    amount: str
    subsidy_type: str | None


def beneficiaries(event_id: str, region: str, payment: PaymentMade) -> list[BeneficiaryCheck]:
    """Every individual a payment reaches: each subsidy line, or the individual payee."""
    if payment.subsidy_lines:
        return [
            BeneficiaryCheck(event_id, region, payment.payment_id, line.person.hash, line.person.masked, line.name,
                             str(line.paid), line.subsidy_type)
            for line in payment.subsidy_lines
        ]
    if payment.payee.kind == PayeeKind.individual and payment.payee.person is not None:
        p = payment.payee
        return [BeneficiaryCheck(event_id, region, payment.payment_id, p.person.hash, p.person.masked, p.name,
                                 str(payment.amount), None)]
    return []


def ben01_not_in_registry(check: BeneficiaryCheck, registry_status: str | None) -> Finding | None:
    """BEN-01: the person paid is not in the poor-household registry (建档立卡)."""
    if registry_status is not None and registry_status != HouseholdStatus.removed:
        return None
    why = "removed from" if registry_status == HouseholdStatus.removed else "not found in"
    return Finding(
        rule_id="BEN-01",
        subject=f"payment/{check.payment_id}/person/{check.person_hash}",
        region=check.region,
        findings=f"{check.name} ({check.person_masked}) paid {check.amount} yuan is {why} the poor-household registry",
        evidence_event_ids=(check.event_id,),
    )
