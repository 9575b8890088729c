"""A first enterprise import (no enterprise in the database yet) looks none of its codes up:
its snapshot is empty without the lookup, at check and at apply. The apply still refuses
the batch as stale when an enterprise the file names arrived in between, and applies it
when another one did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_agency, make_enterprise
from tests.imports.helpers import assert_refused_as_stale, codes, csv_bytes, enterprise_rows
from tests.statements import statements
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus
from webapp.imports import service
from webapp.imports.models import ImportBatch


def _lookups(seen: list[str]) -> int:
    """The snapshot's lookups of enterprises by credit code among those sent."""
    return sum(1 for statement in seen if "enterprises.risk_grade" in statement)


def _check(db: Session, data: bytes, now: datetime) -> ImportBatch:
    batch = service.check_file(
        db, actor=None, kind=ImportKind.enterprises, filename="e.csv", data=data, now=now
    )
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    return batch


def test_a_first_import_looks_no_code_up_and_the_next_one_does(db: Session, now: datetime) -> None:
    agency = make_agency(db, now=now)
    db.commit()
    data = csv_bytes(enterprise_rows(agency.code, 3))
    with statements(db) as seen:
        batch = _check(db, data, now)
        service.apply_batch(db, actor=None, batch_id=batch.id, now=now)
    assert (batch.added, batch.changed, batch.unchanged) == (3, 0, 0)
    assert _lookups(seen) == 0
    assert db.scalar(select(func.count()).select_from(Enterprise)) == 3

    # The same file again: the enterprises are there, looked up, nothing to change.
    with statements(db) as seen:
        again = _check(db, data, now)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 3)
    assert _lookups(seen) == 1


def _checked_then_added(db: Session, now: datetime, added: int) -> tuple[ImportBatch, list[str]]:
    """A first import of the first 3 of 4 codes checked, then the enterprise of code
    `added` registered (by another import or by hand) before the confirmation."""
    agency = make_agency(db, now=now)
    db.commit()
    code_list = codes(4)
    batch = _check(db, csv_bytes(enterprise_rows(agency.code, 3, code_list=code_list)), now)
    make_enterprise(db, agency=agency, now=now).uscc = code_list[added]
    db.commit()
    return batch, code_list


def test_an_enterprise_of_the_file_added_after_a_first_check_makes_the_batch_stale(
    db: Session, now: datetime
) -> None:
    batch, code_list = _checked_then_added(db, now, 1)

    assert_refused_as_stale(db, batch, now, None)
    assert db.scalars(select(Enterprise.uscc)).all() == [code_list[1]]


def test_another_enterprise_added_after_a_first_check_leaves_the_batch_good(
    db: Session, now: datetime
) -> None:
    batch, code_list = _checked_then_added(db, now, 3)  # a code not in the file

    service.apply_batch(db, actor=None, batch_id=batch.id, now=now)
    db.expire_all()
    assert set(db.scalars(select(Enterprise.uscc))) == set(code_list)
