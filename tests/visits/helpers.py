"""Registration inputs and small counting helpers for the visits tests."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.qr import qr_codes
from webapp.audit.models import AuditEvent
from webapp.auth.models import IdempotencyRecord
from webapp.enums import ExtraReason
from webapp.supervision.models import Flag
from webapp.visits.models import Visit, VisitInspector
from webapp.visits.service import RegistrationInput


def window(now: datetime, *, in_hours: float = 1, hours: float = 3) -> tuple[datetime, datetime]:
    start = now + timedelta(hours=in_hours)
    return start, start + timedelta(hours=hours)


def planned(world: World, now: datetime, **changes: Any) -> RegistrationInput:
    """alice (inspector1) and bob visit Alpha Chemicals for its plan entry, in an hour."""
    start, end = window(now)
    data = RegistrationInput(
        enterprise_id=world.ent_a.id,
        plan_entry_id=world.entry_a.id,
        co_inspector_ids=[world.bob.id],
        window_start=start,
        window_end=end,
    )
    return replace(data, **changes)


def extra(world: World, now: datetime, **changes: Any) -> RegistrationInput:
    """An extra visit after a complaint, with two items."""
    data = planned(
        world,
        now,
        plan_entry_id=None,
        extra_reason=ExtraReason.complaint,
        extra_reason_text="12345 hotline: blocked fire exits in workshop 2",
        item_ids=[world.items[0].id, world.items[2].id],
    )
    return replace(data, **changes)


def api_body(data: RegistrationInput) -> dict[str, Any]:
    return {
        "enterprise_id": data.enterprise_id,
        "plan_entry_id": data.plan_entry_id,
        "extra_reason": data.extra_reason.value if data.extra_reason else None,
        "extra_reason_text": data.extra_reason_text,
        "co_inspector_ids": data.co_inspector_ids,
        "item_ids": data.item_ids,
        "window_start": data.window_start.isoformat() if data.window_start else None,
        "window_end": data.window_end.isoformat() if data.window_end else None,
    }


def local_input(value: datetime) -> str:
    """A datetime as an <input type=datetime-local> value in Shanghai time."""
    from webapp.web import to_local

    return to_local(value).strftime("%Y-%m-%dT%H:%M")


def form_body(data: RegistrationInput, csrf: str, **extra_fields: Any) -> dict[str, Any]:
    """The registration page's form fields for `data`."""
    body: dict[str, Any] = {
        "csrf_token": csrf,
        "enterprise_id": str(data.enterprise_id or ""),
        "plan_entry_id": str(data.plan_entry_id) if data.plan_entry_id else "extra",
        "extra_reason": data.extra_reason.value if data.extra_reason else "",
        "extra_reason_text": data.extra_reason_text,
        "co_inspector_ids": [str(i) for i in data.co_inspector_ids],
        "item_ids": [str(i) for i in data.item_ids],
        "window_start": local_input(data.window_start) if data.window_start else "",
        "window_end": local_input(data.window_end) if data.window_end else "",
        "action": "register",
    }
    body.update(extra_fields)
    return body


def fresh(db: Session) -> Session:
    db.rollback()  # a fresh snapshot: see what the app's connections committed
    db.expire_all()
    return db


def count(db: Session, model: type[Any]) -> int:
    fresh(db)
    return db.scalar(select(func.count()).select_from(model)) or 0


def written(db: Session) -> tuple[int, int, int, int, int]:
    """(visits, team rows, audit events, flags, idempotency records)."""
    return (
        count(db, Visit),
        count(db, VisitInspector),
        count(db, AuditEvent),
        count(db, Flag),
        count(db, IdempotencyRecord),
    )


def only_visit(db: Session) -> Visit:
    fresh(db)
    visits = list(db.scalars(select(Visit)))
    assert len(visits) == 1
    return visits[0]


def decode_png(png: bytes, tmp_path: Path) -> str:
    """Decode a QR PNG with zxing-cpp and with zbarimg; both must read the same text."""
    found = qr_codes(png)
    assert len(found) == 1
    path = tmp_path / "pass.png"
    path.write_bytes(png)
    zbar = subprocess.run(
        ["/usr/bin/zbarimg", "--nodbus", "--quiet", "--raw", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert zbar == found[0].text
    return zbar
