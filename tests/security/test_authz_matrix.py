"""The authorisation matrix: every role against every endpoint, and every role against the
objects of another party (another agency's inspector or supervisor, another enterprise's
safety manager).

Each route must be listed in ACCESS with the roles that may use it; a new route fails this
test until someone decides who may use it. A role not listed must be refused (401, 403, 404 or
a redirect to sign in), and must leave nothing behind."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, api_token, login, make_flag, make_inspection, make_visit
from tests.live import app_routes
from webapp.audit.models import AuditEvent
from webapp.enums import ImportKind
from webapp.findings.models import FindingPhoto
from webapp.imports import service as imports
from webapp.plans.models import VisitCap

# Role letters: A anonymous, I inspector, M safety manager, S supervisor, D administrator.
ANYONE = "AIMSD"
SIGNED_IN = "IMSD"
SUPERVISION = "SD"

# Who may use each route. Pages and API alike; path parameters are filled with objects of the
# role's own party (the county's visit on which inspector1 is, manager1's enterprise, ...).
ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/"): "IMSD",
    ("GET", "/admin"): "D",
    ("GET", "/admin/accounts"): "D",
    ("POST", "/admin/accounts"): "D",
    ("POST", "/admin/accounts/{user_id}/active"): "D",
    ("GET", "/admin/agencies"): "D",
    ("POST", "/admin/agencies"): "D",
    ("GET", "/admin/caps"): "D",
    ("POST", "/admin/caps/{cap_id:int}"): "D",
    ("POST", "/admin/credentials/{credential_id}/status"): "D",
    ("GET", "/admin/enterprises"): "D",
    ("POST", "/admin/enterprises"): "D",
    ("GET", "/admin/enterprises/search"): "D",
    ("GET", "/admin/imports"): "D",
    ("POST", "/admin/imports"): "D",
    ("GET", "/admin/imports/new"): "D",
    ("GET", "/admin/imports/template/{filename}"): "D",
    ("GET", "/admin/imports/{batch_id:int}"): "D",
    ("POST", "/admin/imports/{batch_id:int}/apply"): "D",
    ("POST", "/admin/imports/{batch_id:int}/discard"): "D",
    ("GET", "/admin/imports/{batch_id:int}/progress"): "D",
    ("GET", "/admin/inspectors"): "D",
    ("POST", "/admin/inspectors"): "D",
    ("GET", "/admin/inspectors/{inspector_id}"): "D",
    ("POST", "/admin/inspectors/{inspector_id}/credentials"): "D",
    ("POST", "/admin/inspectors/{inspector_id}/photo"): "D",
    ("GET", "/admin/items"): "D",
    ("POST", "/admin/items"): "D",
    ("GET", "/admin/plans"): "D",
    ("POST", "/admin/plans"): "D",
    ("GET", "/admin/plans/{plan_id}"): "D",
    ("POST", "/admin/plans/{plan_id}/entries"): "D",
    ("POST", "/api/v1/auth/logout"): "IMSD",
    ("POST", "/api/v1/auth/token"): "AIMSD",
    ("POST", "/api/v1/checkins"): "M",
    ("GET", "/api/v1/enterprise/reports"): "M",
    ("GET", "/api/v1/enterprise/visits"): "M",
    ("GET", "/api/v1/enterprises"): "ISD",
    ("GET", "/api/v1/finding-photos/{photo_id}"): "IMSD",
    ("GET", "/api/v1/flags"): "SD",
    ("GET", "/api/v1/flags/{flag_id}"): "SD",
    ("POST", "/api/v1/flags/{flag_id}/resolutions"): "SD",
    ("GET", "/api/v1/hazards"): "SD",
    ("POST", "/api/v1/inspections/{inspection_id}/acknowledge"): "M",
    ("GET", "/api/v1/items"): "IMSD",
    ("GET", "/api/v1/me"): "IMSD",
    ("GET", "/api/v1/openapi.json"): "AIMSD",
    ("GET", "/api/v1/plan-entries"): "ISD",
    ("GET", "/api/v1/plans"): "ISD",
    ("GET", "/api/v1/supervision/coverage"): "SD",
    ("GET", "/api/v1/supervision/report"): "SD",
    ("POST", "/api/v1/unregistered-reports"): "M",
    ("POST", "/api/v1/visits"): "I",
    ("GET", "/api/v1/visits/{public_id}"): "IMSD",
    ("POST", "/api/v1/visits/{public_id}/cancel"): "I",
    ("POST", "/api/v1/visits/{public_id}/decision"): "SD",
    ("GET", "/api/v1/visits/{public_id}/history"): "SD",
    ("GET", "/api/v1/visits/{public_id}/inspection"): "IMSD",
    ("POST", "/api/v1/visits/{public_id}/inspection"): "I",
    ("POST", "/api/v1/visits/{public_id}/join"): "I",
    ("GET", "/api/v1/visits/{public_id}/pass"): "I",
    ("GET", "/api/v1/visits/{public_id}/pass.png"): "I",
    ("GET", "/api/v1/visits/{public_id}/pass.svg"): "I",
    ("GET", "/enterprise"): "M",
    ("GET", "/enterprise/notices"): "M",
    ("GET", "/enterprise/notices/pending"): "M",
    ("POST", "/enterprise/notices/{inspection_id}/acknowledge"): "M",
    ("GET", "/enterprise/visits/{public_id}"): "M",
    ("GET", "/enterprise/visits/{public_id}/notice"): "M",
    ("GET", "/findings/photos/{photo_id}"): "IMSD",
    ("POST", "/lang"): "AIMSD",
    ("GET", "/login"): "AIMSD",
    ("POST", "/login"): "AIMSD",
    ("GET", "/manifest.webmanifest"): "AIMSD",
    ("GET", "/preferences"): "AIMSD",
    ("GET", "/favicon.ico"): "AIMSD",
    ("GET", "/healthz"): "AIMSD",
    ("GET", "/sw.js"): "AIMSD",
    ("GET", "/offline"): "AIMSD",
    ("GET", "/pwa/session"): "IMSD",
    ("POST", "/reports"): "M",
    ("GET", "/reports/new"): "M",
    ("GET", "/scan"): "AIMSD",
    ("POST", "/scan"): "M",
    ("GET", "/scan/camera"): "M",
    ("GET", "/scan/enter"): "AIMSD",
    ("GET", "/supervision"): "IMSD",
    ("GET", "/supervision/approvals"): "SD",
    ("POST", "/supervision/approvals/{public_id}"): "SD",
    ("GET", "/supervision/audit"): "SD",
    ("GET", "/supervision/audit/head.json"): "SD",
    ("GET", "/supervision/flags"): "SD",
    ("GET", "/supervision/flags/{flag_id}"): "SD",
    ("POST", "/supervision/flags/{flag_id}/resolutions"): "SD",
    ("GET", "/supervision/hazards"): "SD",
    ("GET", "/supervision/plan"): "SD",
    ("GET", "/supervision/report"): "SD",
    ("GET", "/supervision/report.csv"): "SD",
    ("GET", "/supervision/report.xlsx"): "SD",
    ("GET", "/supervision/report/records"): "SD",
    ("GET", "/supervision/visits"): "SD",
    ("GET", "/supervision/visits/{public_id}"): "SD",
    ("GET", "/supervision/visits/{public_id}/inspections"): "IMSD",
    ("GET", "/visits"): "I",
    ("POST", "/visits/check"): "I",
    ("GET", "/visits/enterprise-search"): "ISD",
    ("GET", "/visits/item-options"): "I",
    ("GET", "/visits/new"): "I",
    ("POST", "/visits/new"): "I",
    ("GET", "/visits/plan-options"): "I",
    ("GET", "/visits/{public_id}"): "IMSD",
    ("POST", "/visits/{public_id}/cancel"): "I",
    ("GET", "/visits/{public_id}/findings"): "IMSD",
    ("POST", "/visits/{public_id}/findings"): "I",
    ("GET", "/visits/{public_id}/findings/new"): "I",
    ("GET", "/visits/{public_id}/join"): "I",
    ("POST", "/visits/{public_id}/join"): "I",
    ("GET", "/visits/{public_id}/pass"): "IMSD",
    ("GET", "/visits/{public_id}/pass.png"): "I",
    ("GET", "/visits/{public_id}/pass.svg"): "I",
}

# Routes whose object belongs to nobody in particular, or that exist to reach another
# party's object on purpose (joining another agency's registered visit).
NOT_OBJECT_SCOPED: set[tuple[str, str]] = {
    ("GET", "/visits/{public_id}/join"),
    ("POST", "/visits/{public_id}/join"),
    ("POST", "/api/v1/visits/{public_id}/join"),
}

ROLE_USERS = {"I": "inspector1", "M": "manager1", "S": "supervisor1", "D": "admin"}
OTHER_PARTY = {"I": "inspector9", "M": "manager2", "S": "supervisor9"}


@dataclass
class Objects:
    params: dict[str, str]


def _seed(db: Session, world: World, now: datetime) -> Objects:
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:2],
        registered_by=world.inspector1,
        now=now - timedelta(hours=4),
        plan_entry=world.entry_a,
        status="confirmed",
        window_start=now - timedelta(hours=2),
    )
    flag = make_flag(db, kind="short_notice", agency=world.county, now=now, visit=visit)
    inspection = make_inspection(
        db,
        visit=visit,
        recorded_by=world.inspector1,
        now=now,
        results=[(world.items[0], "hazard", (now + timedelta(days=10)).date())]
        + [(i, "compliant", None) for i in world.items[1:2]],
    )
    photo = FindingPhoto(
        item_finding_id=inspection.findings[0].id,
        content=b"\xff\xd8\xff\xe0",
        content_type="image/jpeg",
        created_at=now,
    )
    db.add(photo)
    batch = imports.check_file(
        db,
        actor=world.admin,
        kind=ImportKind.items,
        filename="items.csv",
        data=b"code,title,legal basis\nAQ-900,Exits,Law art. 1\n",
        now=now,
    )
    db.commit()
    cap = db.scalars(select(VisitCap).limit(1)).one()
    credential = world.alice.credentials[0]
    db.commit()
    return Objects(
        params={
            "public_id": visit.public_id,
            "flag_id": str(flag.id),
            "inspector_id": str(world.alice.id),
            "credential_id": str(credential.id),
            "plan_id": str(world.entry_a.plan_id),
            "user_id": str(world.inspector2.id),
            "batch_id": str(batch.id),
            "cap_id": str(cap.id),
            "photo_id": str(photo.id),
            "inspection_id": str(inspection.id),
            "filename": "enterprises.csv",
            "item_id": str(world.items[0].id),
            "enterprise_id": str(world.ent_a.id),
            "month": world.month,
            "later": (now + timedelta(hours=1)).isoformat(),
        }
    )


def _url(path: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        if "{" not in path:
            break
        path = path.replace("{" + name + "}", value).replace("{" + name + ":int}", value)
    assert "{" not in path, f"no test value for a parameter of {path}: add it to _seed"
    return path


def _denied(response: Any) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    location = response.headers.get("location", "") + response.headers.get("hx-redirect", "")
    return response.status_code in (302, 303, 307, 204) and location.startswith("/login")


def _inputs(objects: Objects) -> dict[tuple[str, str], dict[str, Any]]:
    """Just enough input to get past the shape checks, so what answers is the permission
    check and not a validation error (a 422 would hide a missing check)."""
    p = objects.params
    item = {"item_id": int(p["item_id"]), "outcome": "compliant"}
    return {
        ("GET", "/api/v1/plan-entries"): {"params": {"month": p["month"]}},
        ("GET", "/supervision/report/records"): {"params": {"column": "inspections"}},
        ("POST", "/api/v1/checkins"): {"json": {"pass": "ABCDE-123-456"}},
        ("POST", "/api/v1/flags/{flag_id}/resolutions"): {"json": {"note": "checked on site"}},
        ("POST", "/api/v1/visits"): {
            "json": {
                "enterprise_id": int(p["enterprise_id"]),
                "window_start": p["later"],
                "window_end": p["later"],
            }
        },
        ("POST", "/api/v1/visits/{public_id}/cancel"): {"json": {"reason": "registered twice"}},
        ("POST", "/api/v1/visits/{public_id}/decision"): {
            "json": {"decision": "approved", "note": "ok"}
        },
        ("POST", "/api/v1/visits/{public_id}/inspection"): {"json": {"results": [item]}},
        ("POST", "/api/v1/unregistered-reports"): {
            "json": {"occurred_at": p["later"], "who": "two men", "what_they_said": "safety"}
        },
    }


def _call(
    client: TestClient,
    method: str,
    path: str,
    objects: Objects,
    auth: dict[str, str],
    csrf: str,
) -> Any:
    url = _url(path, objects.params)
    extra = _inputs(objects).get((method, path), {})
    if url.startswith("/api/"):
        if method == "POST":
            extra = {"json": {}, **extra}
        return client.request(method, url, headers=auth, follow_redirects=False, **extra)
    data = {"csrf_token": csrf} if method == "POST" else None
    return client.request(method, url, data=data, follow_redirects=False, **extra)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    found = set()
    for path, methods, _ in app_routes(app):
        if path.startswith("/static"):
            continue
        if path == "/logout":
            continue  # signing out is a redirect to the sign-in page for everyone (tests/auth)
        for method in methods - {"HEAD"}:
            found.add((method, path))
    # Signing out last: it ends the session the other requests use.
    return sorted(found, key=lambda r: ("logout" in r[1], r))


def _as(client: TestClient, username: str | None) -> tuple[dict[str, str], str]:
    client.cookies.clear()
    if username is None:
        page = client.get("/login")
        from tests.factories import csrf_from

        return {}, csrf_from(page.text)
    csrf = login(client, username)
    return api_token(client, username), csrf


def observed(
    client: TestClient, app: FastAPI, objects: Objects, users: dict[str, str | None]
) -> dict[tuple[str, str], str]:
    """For each route, the role letters that were let through."""
    allowed: dict[tuple[str, str], str] = {route: "" for route in _routes(app)}
    for letter, username in users.items():
        auth, csrf = _as(client, username)
        for method, path in _routes(app):
            response = _call(client, method, path, objects, auth, csrf)
            assert response.status_code < 500, (letter, method, path, response.text[:300])
            if os.environ.get("AUTHZ_PRINT") and response.status_code == 422:
                print("422", letter, method, path, response.text[:160])
            if not _denied(response):
                allowed[(method, path)] += letter
            if "logout" in path:
                auth, csrf = _as(client, username)
    return allowed


def test_every_role_against_every_route(
    client: TestClient, app: FastAPI, db: Session, world: World, now: datetime
) -> None:
    objects = _seed(db, world, now)
    users: dict[str, str | None] = {"A": None, **ROLE_USERS}
    seen = observed(client, app, objects, users)
    if os.environ.get("AUTHZ_PRINT"):
        for (method, path), letters in sorted(seen.items(), key=lambda r: r[0][1]):
            print(f'    ("{method}", "{path}"): "{letters}",')
    unlisted = sorted(route for route in seen if route not in ACCESS)
    assert not unlisted, f"decide who may use these routes (add them to ACCESS): {unlisted}"
    wrong = {
        route: f"expected {ACCESS[route]!r}, got {letters!r}"
        for route, letters in seen.items()
        if set(letters) != set(ACCESS[route])
    }
    assert not wrong, "\n".join(f"{r}: {w}" for r, w in sorted(wrong.items()))


def test_no_role_reaches_another_partys_objects(
    client: TestClient, app: FastAPI, db: Session, world: World, now: datetime
) -> None:
    objects = _seed(db, world, now)
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    scoped = [
        (method, path)
        for method, path in _routes(app)
        if "{" in path and (method, path) not in NOT_OBJECT_SCOPED
    ]
    leaks = []
    for letter, username in OTHER_PARTY.items():
        auth, csrf = _as(client, username)
        for method, path in scoped:
            if letter not in ACCESS.get((method, path), ""):
                continue  # the role cannot use the route at all: the first test covers it
            response = _call(client, method, path, objects, auth, csrf)
            if not _denied(response):
                leaks.append(f"{username} {method} {path}: {response.status_code}")
    assert not leaks, "\n".join(leaks)
    db.rollback()
    signed_in = db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action != "auth.signed_in")
    )
    assert signed_in == before  # the refused requests wrote nothing (sign-ins aside)


def test_the_enterprise_sees_nothing_of_a_visit_before_its_scan(
    client: TestClient, app: FastAPI, db: Session, world: World, now: datetime
) -> None:
    """Unannounced by design: a registered visit is invisible to its enterprise's manager on
    every route that takes a visit, until the pass is scanned."""
    objects = _seed(db, world, now)
    registered = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:2],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
    )
    db.commit()
    objects.params["public_id"] = registered.public_id
    auth, csrf = _as(client, "manager1")
    seen = []
    for method, path in _routes(app):
        if "{public_id}" not in path:
            continue
        response = _call(client, method, path, objects, auth, csrf)
        if not _denied(response):
            seen.append(f"{method} {path}: {response.status_code}")
    assert not seen, "\n".join(seen)
