"""The demo data set (`make run` loads it into a fresh database) loads through the real
services, and what it leaves is consistent: every visit's state as its scans say, the audit
chain unbroken, the report summary equal to a rebuild."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp import demo
from webapp.audit.service import verify_chain
from webapp.checkin.models import Scan
from webapp.config import get_settings
from webapp.enums import ScanOutcome, VisitStatus
from webapp.supervision import summary
from webapp.visits.models import Visit


def test_the_demo_data_loads_into_a_fresh_database(db: Session, now: datetime) -> None:
    assert demo.is_empty(db)
    demo.load(db, now=now, settings=get_settings())
    db.commit()
    db.expire_all()
    assert not demo.is_empty(db)
    # A visit is confirmed exactly when a confirming scan of it was stored.
    confirmed = set(db.scalars(select(Visit.id).where(Visit.status == VisitStatus.confirmed)))
    scanned = set(db.scalars(select(Scan.visit_id).where(Scan.outcome == ScanOutcome.confirmed)))
    assert confirmed
    assert confirmed == scanned
    assert (db.scalar(select(func.count()).select_from(Visit)) or 0) > len(confirmed)
    assert verify_chain(db).ok
    assert summary.differences(db) == []
