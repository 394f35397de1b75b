"""Fixtures of the notify tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.receivers import Receiver


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[int | None], Receiver]]:
    """Start real webhook receivers (see `Receiver`); all are closed after the test."""
    started: list[Receiver] = []

    def start(fail_first: int | None) -> Receiver:
        started.append(Receiver(fail_first))
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()
