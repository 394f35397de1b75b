"""Chinese working days (工作日): public holidays and adjusted working weekends (调休) included.

Deadlines of seed 000 ("指标下达5个工作日内…") count working days on the official schedule,
which `chinese_calendar` carries year by year. For a year it does not know yet the calendar
falls back to Monday–Friday (and says so once in the log), so a deadline is never refused."""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)
CST = dt.timezone(dt.timedelta(hours=8), "CST")  # deadlines are Beijing working days
_warned: set[int] = set()


@lru_cache(maxsize=4096)
def is_working_day(day: dt.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning("no official holiday schedule for %s: counting Monday to Friday", day.year)
        return day.weekday() < 5


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date `days` working days after `start` (start itself not counted); negative counts back.

    add_working_days(Fri, 1) is the next working day, which after a holiday block may be
    an adjusted Saturday."""
    step = 1 if days >= 0 else -1
    day, left = start, abs(days)
    while left:
        day += dt.timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += is_working_day(day)
    return count


def start_of(day: dt.date) -> dt.datetime:
    """00:00 Beijing time of `day`: when a bell for that day is raised."""
    return dt.datetime.combine(day, dt.time(), CST)


def end_of(day: dt.date) -> dt.datetime:
    """The instant a deadline on `day` has passed (00:00 Beijing time of the next day)."""
    return start_of(day + dt.timedelta(days=1))


def local_date(moment: dt.datetime) -> dt.date:
    """The Beijing calendar date of an aware instant."""
    return moment.astimezone(CST).date()
