"""Interlock (咬合) of upper transfers and designated fund links (指定关联), as plain functions.

Every transfer an upper level issues (booked to its 500202) must be received in full by the
lower level it was issued to (指标关联: the receipt names the issued indicator). The ledger keeps,
per transfer, what was issued, what was received and what is still in transit; a difference
is a fact to report (IND-02), never something to fix silently."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contracts.ledger import InterlockState


@dataclass(frozen=True, slots=True)
class Interlock:
    state: InterlockState
    issued_fen: int
    received_fen: int
    in_transit_fen: int


def interlock(issued_fen: int | None, received_fen: int, receipts: int) -> Interlock | None:
    """State of one transfer. None while the issue itself is unknown (the receipt was projected
    before the issuer's event: nothing can be said yet, the issue will settle it)."""
    if issued_fen is None:
        return None
    if receipts == 0:
        return Interlock(InterlockState.in_transit, issued_fen, 0, issued_fen)
    if received_fen == issued_fen:
        return Interlock(InterlockState.matched, issued_fen, received_fen, 0)
    return Interlock(InterlockState.mismatch, issued_fen, received_fen, max(issued_fen - received_fen, 0))


def link_conflict(known_uppers: Iterable[str], new_upper: str | None) -> list[str] | None:
    """A local fund designates exactly one upper fund (指定关联); many local funds may share one.
    Returns every upper fund the fund is linked to when `new_upper` makes it more than one."""
    uppers = sorted(set(known_uppers) | ({new_upper} if new_upper else set()))
    if new_upper and len(uppers) > 1 and new_upper not in set(known_uppers):
        return uppers
    return None


def root_fund(fund_code: str | None, designated: dict[str, str | None]) -> str | None:
    """The top of a fund's designated-link chain (county fund → city → provincial → central)."""
    seen: set[str] = set()
    code = fund_code
    while code and code not in seen:
        seen.add(code)
        upper = designated.get(code)
        if not upper:
            return code
        code = upper
    return code
