"""Geometry of the monthly report's 12-month chart, drawn by the template as inline SVG (no
script, no style attributes: CSP-safe). Bars are inspections; hazards and cases are lines
with dots, on one shared axis (all three are counts)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from webapp.supervision.reports import MonthPoint

# Small enough that its 13-unit text stays readable on a 390 px phone, where it fills the
# width; the legend is HTML beside it.
WIDTH, HEIGHT = 480, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 20, 44  # margins: axis labels left, months below


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Slot:
    """One month: its bar and the dots of its lines."""

    month: str
    first_day: date
    x: float  # centre
    bar_x: float
    bar_y: float
    bar_width: float
    bar_height: float
    inspections: int
    hazards: int
    hazards_y: float
    cases: int
    cases_y: float
    show_year: bool  # under the first month and every January


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int  # x of the plot's right edge
    top: int
    bottom: int  # y of the plot's baseline
    ticks: list[Tick]
    slots: list[Slot]
    hazards_line: str  # "x,y x,y ..." for <polyline points>
    cases_line: str

    @property
    def empty(self) -> bool:
        return all(s.inspections == 0 and s.hazards == 0 and s.cases == 0 for s in self.slots)


def nice_step(largest: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) so `ticks` steps reach `largest`."""
    if largest <= ticks:
        return 1
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def build_chart(series: Sequence[MonthPoint]) -> Chart:
    bottom = HEIGHT - BOTTOM
    right = WIDTH - RIGHT
    largest = max(
        [max(p.figures.inspections, p.figures.hazards, p.figures.cases) for p in series] + [1]
    )
    step = nice_step(largest)
    top_value = step * math.ceil(largest / step)
    scale = (bottom - TOP) / top_value

    def y(value: int) -> float:
        return round(bottom - value * scale, 1)

    slot_width = (right - LEFT) / max(len(series), 1)
    bar_width = round(slot_width * 0.6, 1)
    slots = []
    for i, point in enumerate(series):
        x = round(LEFT + slot_width * (i + 0.5), 1)
        year, mon = (int(v) for v in point.month.split("-"))
        f = point.figures
        slots.append(
            Slot(
                month=point.month,
                first_day=date(year, mon, 1),
                x=x,
                bar_x=round(x - bar_width / 2, 1),
                bar_y=y(f.inspections),
                bar_width=bar_width,
                bar_height=round(bottom - y(f.inspections), 1),
                inspections=f.inspections,
                hazards=f.hazards,
                hazards_y=y(f.hazards),
                cases=f.cases,
                cases_y=y(f.cases),
                show_year=i == 0 or mon == 1,
            )
        )
    ticks = [Tick(y(v), v) for v in range(0, top_value + 1, step)]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=right,
        top=TOP,
        bottom=bottom,
        ticks=ticks,
        slots=slots,
        hazards_line=" ".join(f"{s.x},{s.hazards_y}" for s in slots),
        cases_line=" ".join(f"{s.x},{s.cases_y}" for s in slots),
    )
