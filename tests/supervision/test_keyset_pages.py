"""Keyset pages of the flag list at the boundaries: several flags raised at the same instant
across a page boundary, each listed exactly once, in order; filters keep paging right."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tests.factories import World, make_flag
from webapp.enums import FlagKind
from webapp.supervision import service
from webapp.supervision.service import FlagState


def _all_pages(db: Session, world: World, *, limit: int, **filters: object) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor = None
    while True:
        page = service.list_flags(
            db,
            actor=world.supervisor,
            cursor=cursor,
            limit=limit,
            **filters,  # type: ignore[arg-type]
        )
        pages.append([row.flag.id for row in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_ties_across_page_boundaries_each_flag_once_in_order(
    db: Session, world: World, now: datetime
) -> None:
    # Seven flags: three at one instant, two at another, two alone; ids rise with creation.
    instants = [
        now,
        now,
        now,
        now - timedelta(hours=1),
        now - timedelta(hours=1),
        now - timedelta(hours=2),
        now + timedelta(hours=1),
    ]
    flags = [
        make_flag(db, kind="unregistered_report", agency=world.county, now=at) for at in instants
    ]
    db.commit()
    expected = [f.id for f in sorted(flags, key=lambda f: (f.raised_at, f.id), reverse=True)]
    for limit in (1, 2, 3, 4, 7):
        pages = _all_pages(db, world, limit=limit, state=FlagState.all)
        assert [i for page in pages for i in page] == expected, limit
        assert all(len(p) == limit for p in pages[:-1])
        assert 1 <= len(pages[-1]) <= limit
    # A page boundary inside the three-way tie: the page of two ends mid-tie, and the
    # next one continues with the lower id at the same instant.
    pages = _all_pages(db, world, limit=2, state=FlagState.all)
    newest_tie = [f.id for f in flags[:3]][::-1]
    assert pages[0] == [flags[6].id, newest_tie[0]]
    assert pages[1] == newest_tie[1:]


def test_a_filter_keeps_paging_over_its_own_rows_only(
    db: Session, world: World, now: datetime
) -> None:
    kept = []
    for n in range(5):
        kept.append(
            make_flag(
                db, kind="refused_scan", agency=world.county, now=now - timedelta(minutes=n % 2)
            )
        )
        make_flag(db, kind="short_notice", agency=world.county, now=now - timedelta(minutes=n % 2))
    # Out of scope for the county's supervisor: never listed.
    make_flag(db, kind="refused_scan", agency=world.other_county, now=now)
    db.commit()
    pages = _all_pages(db, world, limit=2, kind=FlagKind.refused_scan, state=FlagState.open)
    listed = [i for page in pages for i in page]
    assert listed == [f.id for f in sorted(kept, key=lambda f: (f.raised_at, f.id), reverse=True)]
    assert len(pages) == 3
