"""Times in messages made on the server ("already confirmed at 10:02 ...") are shown in the
reader's display zone (the `tz` cookie), on pages and in API answers; what is kept is not
changed (office zone, as made)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.checkin.helpers import make_visit, path_of, sign_in, url_of
from tests.factories import World, api_token
from webapp.config import Settings
from webapp.errors import LocalTime, in_zone
from webapp.visits.models import Visit
from webapp.web import TZ_COOKIE, translate

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _later_visit(db: Session, world: World, now: datetime) -> Visit:
    # 14:00 - 17:00 in Shanghai = 06:00 - 09:00 UTC = 12:00 - 15:00 in Urumqi (UTC+6).
    return make_visit(
        db, world, now=now, window=(now + timedelta(hours=5), now + timedelta(hours=8))
    )


def test_a_local_time_reads_in_the_office_zone_and_shows_in_another() -> None:
    now = datetime(2026, 11, 16, 1, 30, tzinfo=UTC)
    at = LocalTime(now - timedelta(minutes=28), now=now, zone=SHANGHAI)
    assert at == "09:02"
    assert in_zone({"time": at, "name": "x"}, ZoneInfo("UTC")) == {"time": "01:02", "name": "x"}
    # Another day in the reader's zone: the date is said too.
    early = LocalTime(datetime(2026, 11, 15, 23, 50, tzinfo=UTC), now=now, zone=SHANGHAI)
    assert early == "07:50"
    assert early.in_zone(ZoneInfo("UTC")) == "2026-11-15 23:50"
    assert translate("en", "Visit confirmed at %(time)s.", {"time": at}) == (
        "Visit confirmed at 09:02."
    )
    assert translate("en", "Visit confirmed at %(time)s.", {"time": at}, ZoneInfo("UTC")) == (
        "Visit confirmed at 01:02."
    )


def test_the_scan_page_gives_the_time_window_in_the_readers_zone(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = _later_visit(db, world, now)
    csrf = sign_in(en, "manager1")
    url = url_of(visit, now=now, settings=settings)
    office = en.get(path_of(url))
    assert "its time window is 14:00 – 17:00." in office.text
    en.cookies.set(TZ_COOKIE, "UTC")
    page = en.get(path_of(url))
    assert "its time window is 06:00 – 09:00." in page.text
    assert "14:00 – 17:00" not in page.text
    refused = en.post(
        "/scan", data={"pass": url, "csrf_token": csrf, "idempotency_key": "tz-refusal"}
    )
    assert refused.status_code == 409
    assert "its time window is 06:00 – 09:00." in refused.text


def test_api_answers_give_times_in_the_readers_zone(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    headers = api_token(en, "manager1")
    later = _later_visit(db, world, now)
    current = make_visit(db, world, now=now)
    en.cookies.set(TZ_COOKIE, "Asia/Urumqi")
    refused = en.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": url_of(later, now=now, settings=settings)},
    )
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["detail"].endswith("its time window is 12:00 – 15:00.")
    confirmed = en.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": url_of(current, now=now, settings=settings)},
    )
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["message"] == "Visit confirmed at 07:00."
    # Without a display zone: the office's, as before.
    en.cookies.delete(TZ_COOKIE)
    again = en.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": url_of(later, now=now, settings=settings)},
    )
    assert again.json()["detail"].endswith("its time window is 14:00 – 17:00.")
