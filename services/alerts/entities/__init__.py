"""The entities of the rule engine, by the first letter of their key (facts.py lists the keys)."""

from __future__ import annotations

from services.alerts.entities.account import BankAccount
from services.alerts.entities.base import Ctx, Entity
from services.alerts.entities.enterprise import Enterprise
from services.alerts.entities.fund import FundLinks
from services.alerts.entities.indicator import Indicator
from services.alerts.entities.person import Person
from services.alerts.entities.project import Project
from services.alerts.entities.transfer import Transfer

ENTITIES: dict[str, type[Entity]] = {
    "P": Person, "A": BankAccount, "E": Enterprise, "J": Project, "T": Transfer, "I": Indicator, "F": FundLinks,
}

__all__ = [
    "ENTITIES",
    "BankAccount",
    "Ctx",
    "Enterprise",
    "Entity",
    "FundLinks",
    "Indicator",
    "Person",
    "Project",
    "Transfer",
]
