"""Chinese working days: public holidays and adjusted working weekends (调休) count as they should."""

from __future__ import annotations

import datetime as dt

from services.runtime.calendar import add_working_days, end_of, is_working_day, start_of, working_days_between
from services.alerts.deadlines import working_deadline

D = dt.date


def test_public_holiday_is_not_a_working_day():
    assert not is_working_day(D(2026, 10, 1))  # National Day
    assert not is_working_day(D(2026, 2, 17))  # Spring Festival
    assert is_working_day(D(2026, 10, 9))


def test_adjusted_weekend_is_a_working_day():
    assert D(2026, 2, 14).weekday() == 5 and is_working_day(D(2026, 2, 14))  # Saturday before the Spring Festival
    assert D(2026, 1, 4).weekday() == 6 and is_working_day(D(2026, 1, 4))  # Sunday after New Year's Day
    assert not is_working_day(D(2026, 2, 21))  # an ordinary Saturday of the holiday block


def test_five_working_days_across_the_spring_festival():
    # issued Friday 13 Feb: Sat 14 (adjusted) is day 1, then the holiday to 23 Feb, then 24, 25, 26, 27
    assert add_working_days(D(2026, 2, 13), 5) == D(2026, 2, 27)
    assert working_days_between(D(2026, 2, 13), D(2026, 2, 27)) == 5
    due, bell = working_deadline(D(2026, 2, 13), 5, 2)
    assert (due, bell) == (D(2026, 2, 27), D(2026, 2, 25))


def test_national_day_week():
    assert add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)  # 1–7 October off
    assert add_working_days(D(2026, 10, 8), -1) == D(2026, 9, 30)
    assert add_working_days(D(2026, 10, 9), 1) == D(2026, 10, 10)  # an adjusted working Saturday


def test_unknown_year_falls_back_to_weekdays():
    assert is_working_day(D(2030, 1, 7)) and not is_working_day(D(2030, 1, 6))


def test_deadline_instants_are_beijing_days():
    assert start_of(D(2026, 3, 2)).isoformat() == "2026-03-02T00:00:00+08:00"
    assert end_of(D(2026, 3, 2)) == start_of(D(2026, 3, 3))
