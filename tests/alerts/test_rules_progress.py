"""Disbursement progress rules (拨付进度), PRG-01 … PRG-06: pure functions over ledger balances (fen)."""

from __future__ import annotations

import datetime as dt

from services.alerts.rules import progress as prg
from tests.alerts.builders import cfg, project_pay

RECEIVED = {"4001": 100_000_000, "500201": 100_000_000}  # one million yuan received and allocated


def test_prg01_positive():
    f = prg.prg01_behind_schedule("IND-1", "410324", dt.date(2026, 1, 20), dt.date(2026, 6, 30),
                                  {**RECEIVED, "5201": 5_000_000}, cfg("PRG-01"))
    assert f is not None and f.subject == "indicator/IND-1/checkpoint/06-30" and "5.0%" in f.findings


def test_prg01_negative():
    on_track = {**RECEIVED, "5201": 40_000_000}
    assert prg.prg01_behind_schedule("IND-1", "410324", dt.date(2026, 1, 20), dt.date(2026, 6, 30), on_track,
                                     cfg("PRG-01")) is None
    young = {**RECEIVED, "5201": 0}  # received 30 days before the checkpoint: too early to judge
    assert prg.prg01_behind_schedule("IND-1", "410324", dt.date(2026, 6, 1), dt.date(2026, 6, 30), young,
                                     cfg("PRG-01")) is None


def test_prg02_positive():
    f = prg.prg02_idle("IND-1", "410324", dt.date(2026, 2, 1), dt.date(2026, 6, 1), {**RECEIVED, "5201": 20_000_000},
                       cfg("PRG-02"))
    assert f is not None and f.subject == "indicator/IND-1/idle" and "120 days" in f.findings


def test_prg02_negative():
    spent = {**RECEIVED, "5201": 99_000_000}  # what is left is below the minimum amount
    assert prg.prg02_idle("IND-1", "410324", dt.date(2026, 2, 1), dt.date(2026, 6, 1), spent, cfg("PRG-02")) is None
    assert prg.prg02_idle("IND-1", "410324", dt.date(2026, 2, 1), dt.date(2026, 3, 1), RECEIVED, cfg("PRG-02")) is None


def test_prg03_positive():
    f = prg.prg03_unspent("IND-1", "410324", dt.date(2026, 12, 15), {**RECEIVED, "5201": 50_000_000}, cfg("PRG-03"))
    assert f is not None and "50.0%" in f.findings


def test_prg03_negative():
    assert prg.prg03_unspent("IND-1", "410324", dt.date(2026, 12, 15), {**RECEIVED, "5201": 95_000_000},
                             cfg("PRG-03")) is None
    issued_down = {"4001": 100_000_000, "500202": 100_000_000}  # passed to lower levels: nothing to spend here
    assert prg.prg03_unspent("IND-1", "410300", dt.date(2026, 12, 15), issued_down, cfg("PRG-03")) is None


def test_prg04_positive():
    f = prg.prg04_special_account(project_pay(payee_name="栾川县财政局"), "special")
    assert f is not None and f.subject == "payment/ZF1"


def test_prg04_negative():
    assert prg.prg04_special_account(project_pay(), "unit") is None
    assert prg.prg04_special_account(project_pay(channel="special_account"), "special") is None  # paid out of it


def test_prg05_positive():
    held = {"4001": 100_000_000, "5001": 20_000_000, "500201": 80_000_000}
    f = prg.prg05_held_up("IND-1", "410324", dt.date(2026, 2, 1), dt.date(2026, 4, 2), held, cfg("PRG-05"))
    assert f is not None and "20.0%" in f.findings


def test_prg05_negative():
    assert prg.prg05_held_up("IND-1", "410324", dt.date(2026, 2, 1), dt.date(2026, 4, 2), RECEIVED, cfg("PRG-05")) is None
    crumbs = {"4001": 100_000_000, "5001": 2_000_000}  # 2 % pending: below the share
    assert prg.prg05_held_up("IND-1", "410324", dt.date(2026, 2, 1), dt.date(2026, 4, 2), crumbs, cfg("PRG-05")) is None


def test_prg06_positive():
    f = prg.prg06_surge("IND-1", "410324", dt.date(2026, 12, 1), 100_000_000, 40_000_000, cfg("PRG-06"))
    assert f is not None and f.subject == "indicator/IND-1/surge"


def test_prg06_negative():
    assert prg.prg06_surge("IND-1", "410324", dt.date(2026, 12, 1), 100_000_000, 10_000_000, cfg("PRG-06")) is None
    assert prg.prg06_surge("IND-1", "410324", dt.date(2026, 12, 1), 5_000_000, 5_000_000, cfg("PRG-06")) is None
