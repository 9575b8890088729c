"""Enterprise search by credit-code prefix: the range the index answers gives exactly the
codes that start with the prefix (neighbours just below and above are left out), on either
engine; a name part still matches; the limit holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise
from webapp.enterprises import service, uscc


def _with_code(db: Session, world: World, now: datetime, first17: str, name: str) -> int:
    enterprise = make_enterprise(db, agency=world.county, now=now, name=name)
    enterprise.uscc = first17 + uscc.check_character(first17)
    db.flush()
    return enterprise.id


def test_code_prefix_matches_exactly_its_codes(db: Session, world: World, now: datetime) -> None:
    inside = [
        _with_code(db, world, now, "91320500" + "MA1234567", "Inside One"),
        _with_code(db, world, now, "91320500" + "YYYYYYYYY", "Inside Highest"),
        _with_code(db, world, now, "91320500" + "000000000", "Inside Lowest"),
    ]
    _with_code(db, world, now, "91320499" + "YYYYYYYYY", "Just Below")
    _with_code(db, world, now, "91320501" + "000000000", "Just Above")
    db.commit()
    found = service.search_enterprises(db, actor=world.inspector1, q="9132 0500")
    assert sorted(e.id for e in found) == sorted(inside)
    # Lower case and full width are normalised before the range is made.
    found = service.search_enterprises(db, actor=world.inspector1, q="９１３２０５００ma")
    assert [e.name for e in found] == ["Inside One"]
    # A whole code finds its one enterprise.
    whole = "91320500" + "MA1234567"
    code = whole + uscc.check_character(whole)
    assert [e.name for e in service.search_enterprises(db, actor=world.admin, q=code)] == [
        "Inside One"
    ]


def test_name_part_and_limit(db: Session, world: World, now: datetime) -> None:
    for n in range(7):
        make_enterprise(db, agency=world.county, now=now, name=f"Harbour Crane Works {n}")
    db.commit()
    found = service.search_enterprises(db, actor=world.supervisor, q="crane", limit=5)
    assert [e.name for e in found] == [f"Harbour Crane Works {n}" for n in range(5)]
    assert service.search_enterprises(db, actor=world.supervisor, q="crane works 6")[0].name == (
        "Harbour Crane Works 6"
    )
    assert service.search_enterprises(db, actor=world.supervisor, q="no such mill") == []
