"""A form's typed times are read in the zone the form showed them in: the user's display zone
(the `tz` preference), so a user who reads Urumqi time also types Urumqi time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, login
from tests.visits.helpers import form_body, only_visit, planned

WINDOW = ("2026-11-16T11:00", "2026-11-16T13:00")  # as typed, in the user's zone


@pytest.mark.parametrize(
    ("zone", "utc_hour"),
    [(None, 3), ("Asia/Shanghai", 3), ("Asia/Urumqi", 5), ("UTC", 11), ("Not/AZone", 3)],
)
def test_the_window_is_read_in_the_users_zone(
    client: TestClient, db: Session, world: World, now: datetime, zone: str | None, utc_hour: int
) -> None:
    if zone is not None:
        client.cookies.set("tz", zone)
    csrf = login(client, "inspector1")
    body = form_body(planned(world, now), csrf)
    body["window_start"], body["window_end"] = WINDOW
    answer = client.post("/visits/new", data=body, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    visit = only_visit(db)
    assert visit.window_start == datetime(2026, 11, 16, utc_hour, tzinfo=UTC)
    assert visit.window_end - visit.window_start == timedelta(hours=2)


def test_the_form_shows_its_default_window_in_the_users_zone(
    client: TestClient, world: World, now: datetime
) -> None:
    login(client, "inspector1")
    shanghai = client.get("/visits/new").text
    client.cookies.set("tz", "UTC")
    utc = client.get("/visits/new").text

    def start(page: str) -> datetime:
        marker = 'name="window_start" type="datetime-local" value="'
        i = page.index(marker) + len(marker)
        return datetime.fromisoformat(page[i : i + 16])

    assert start(shanghai) - start(utc) == timedelta(hours=8)
