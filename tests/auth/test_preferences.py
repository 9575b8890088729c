"""The display time zone: a `tz` cookie (an IANA name, set on the preferences page) decides
the zone of every date and time the pages show; an unknown one is ignored and the office's
zone (Settings.timezone, Asia/Shanghai) is used. Business rules keep the office's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, csrf_from, login, make_visit
from webapp.web import TZ_COOKIE, environment, to_local, valid_zone

# T0 (tests/conftest.py) is 2026-11-16 01:00 UTC = 09:00 in Shanghai.


def _now_line(html: str) -> str:
    match = re.search(r'<p id="tz-help"[^>]*>([^<]*)</p>', html)
    assert match, "no time zone help line"
    return plain(match.group(1))


def plain(text: str) -> str:
    """CLDR puts a narrow no-break space before AM/PM; compare with plain spaces."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


@pytest.mark.parametrize(
    ("cookie", "shown"),
    [
        (None, "9:00 AM"),  # the office's zone by default
        ("Asia/Shanghai", "9:00 AM"),
        ("Asia/Urumqi", "7:00 AM"),
        ("UTC", "1:00 AM"),
        ("Europe/Berlin", "2:00 AM"),  # any IANA zone (a phone's own) is accepted
        ("Mars/Olympus_Mons", "9:00 AM"),  # unknown: ignored
        ("../../etc/passwd", "9:00 AM"),
        ("", "9:00 AM"),
    ],
)
def test_preferences_page_shows_now_in_the_cookie_zone(
    client: TestClient, cookie: str | None, shown: str
) -> None:
    client.cookies.set("lang", "en")
    if cookie is not None:
        client.cookies.set(TZ_COOKIE, cookie)
    page = client.get("/preferences")
    assert page.status_code == 200
    assert f"Now it is 11/16/26, {shown} in this zone" in _now_line(page.text)
    # The zone the page reads in, for the offline banner's script.
    expected = valid_zone(cookie) or "Asia/Shanghai"
    assert f'data-tz="{expected}"' in page.text
    assert re.search(rf'<option value="{re.escape(expected)}" selected>', page.text)


def test_chinese_format_in_the_chosen_zone(client: TestClient) -> None:
    client.cookies.set("lang", "zh_CN")
    client.cookies.set(TZ_COOKIE, "Asia/Urumqi")
    assert "2026/11/16 07:00" in _now_line(client.get("/preferences").text)
    client.cookies.set(TZ_COOKIE, "Asia/Shanghai")
    assert "2026/11/16 09:00" in _now_line(client.get("/preferences").text)


def test_visit_times_follow_the_zone_and_the_date_can_change(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    # 16:30 UTC: 00:30 the next day in Shanghai, 22:30 the same day in Urumqi (the window
    # ends an hour later, still the same day in Urumqi).
    start = datetime(2026, 11, 16, 16, 30, tzinfo=UTC)
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice],
        items=world.items[:1],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
        window_start=start,
        window_end=start + timedelta(hours=1),
    )
    db.commit()
    login(client, "supervisor1")
    client.cookies.set("lang", "en")
    url = f"/supervision/visits/{visit.public_id}"
    shanghai = plain(client.get(url).text)
    assert "Nov 17, 2026, 12:30:00 AM" in shanghai
    client.cookies.set(TZ_COOKIE, "Asia/Urumqi")
    urumqi = plain(client.get(url).text)
    assert "Nov 16, 2026, 10:30:00 PM" in urumqi
    assert "Nov 17, 2026, 12:30:00 AM" not in urumqi
    client.cookies.set(TZ_COOKIE, "Nowhere/Atlantis")
    assert "Nov 17, 2026, 12:30:00 AM" in plain(client.get(url).text)


def test_saving_preferences_sets_valid_cookies_only(client: TestClient) -> None:
    page = client.get("/preferences")
    token = csrf_from(page.text)
    saved = client.post(
        "/lang",
        data={"csrf_token": token, "lang": "en", "tz": "Asia/Urumqi", "next": "/preferences"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/preferences"
    # (The cookie is sent quoted, "/" being outside a cookie token; read back unquoted.)
    assert (saved.cookies.get(TZ_COOKIE) or "").strip('"') == "Asia/Urumqi"
    assert saved.cookies.get("lang") == "en"
    again = client.get("/preferences").text
    assert 'data-tz="Asia/Urumqi"' in again
    assert '<html lang="en"' in again

    # An unknown zone, or the empty "this phone's zone" without script: nothing is set.
    for bad in ("Mars/Olympus_Mons", "", "Asia/Shanghai\r\nSet-Cookie: x=1"):
        refused = client.post(
            "/lang", data={"csrf_token": token, "tz": bad}, follow_redirects=False
        )
        assert refused.status_code == 303
        assert TZ_COOKIE not in refused.cookies
        assert "lang" not in refused.cookies  # no language given: the language is kept

    # The language buttons in the header send only the language: the zone is kept.
    lang_only = client.post(
        "/lang", data={"csrf_token": token, "lang": "zh_CN"}, follow_redirects=False
    )
    assert lang_only.cookies.get("lang") == "zh_CN"
    assert TZ_COOKIE not in lang_only.cookies


def test_signed_in_preferences_and_saved_notice(client: TestClient, world: World) -> None:
    token = login(client, "inspector1")
    client.cookies.set("lang", "en")
    page = client.get("/preferences?saved=1")
    assert "Saved. This phone keeps your choices." in page.text
    assert csrf_from(page.text) == token
    assert "Saved." not in client.get("/preferences").text


def test_filters_use_the_display_zone_but_business_rules_the_office_zone() -> None:
    at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # Dec 1 01:00 in Shanghai
    template = environment().from_string("{{ at|date('yyyy-MM-dd') }} {{ at|time('HH:mm') }}")
    assert template.render(at=at, lang="en", display_tz="UTC") == "2026-11-30 17:00"
    assert template.render(at=at, lang="en", display_tz="Asia/Shanghai") == "2026-12-01 01:00"
    assert template.render(at=at, lang="en", display_tz="Bogus/Zone") == "2026-12-01 01:00"
    assert template.render(at=at, lang="en") == "2026-12-01 01:00"
    # Months and days of plans and reports: the office's zone, whatever the user reads in.
    assert to_local(at).strftime("%Y-%m") == "2026-12"
