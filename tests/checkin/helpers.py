"""Visits made directly with the models (as if registered), and small counting helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, World, csrf_from
from webapp.agencies.models import Inspector
from webapp.audit.models import AuditEvent
from webapp.auth import security
from webapp.auth.models import User
from webapp.checkin import passes
from webapp.checkin.models import Scan
from webapp.config import Settings
from webapp.enterprises.models import Enterprise
from webapp.enums import Approval, ExtraReason, VisitStatus
from webapp.items.models import InspectionItem
from webapp.plans.models import PlanEntry
from webapp.supervision.models import Flag
from webapp.visits.models import Visit, VisitInspector


def make_visit(
    db: Session,
    world: World,
    *,
    now: datetime,
    enterprise: Enterprise | None = None,
    team: list[Inspector] | None = None,
    items: list[InspectionItem] | None = None,
    plan_entry: PlanEntry | None = None,
    extra: ExtraReason | None = None,
    approval: Approval | None = None,
    window: tuple[datetime, datetime] | None = None,
    status: VisitStatus = VisitStatus.registered,
    registered_at: datetime | None = None,
    registered_by: User | None = None,
) -> Visit:
    """A registered visit of the county agency at ent_a (by default), window around `now`,
    registered two hours earlier by inspector1."""
    enterprise = enterprise or world.ent_a
    if extra is None and plan_entry is None:
        plan_entry = world.entry_a if enterprise.id == world.ent_a.id else world.entry_b
    start, end = window or (now - timedelta(hours=1), now + timedelta(hours=3))
    visit = Visit(
        public_id=security.new_public_id(),
        agency_id=world.county.id,
        enterprise_id=enterprise.id,
        plan_entry_id=plan_entry.id if extra is None and plan_entry is not None else None,
        extra_reason=extra,
        extra_reason_text="Complaint by a worker about blocked exits" if extra else "",
        approval=approval or (Approval.not_required if extra is None else Approval.pending),
        window_start=start,
        window_end=end,
        status=status,
        registered_at=registered_at or now - timedelta(hours=2),
        registered_by_id=(registered_by or world.inspector1).id,
        pass_secret=security.new_pass_secret(),
        code_prefix=security.new_code_prefix(),
    )
    visit.items = list(items if items is not None else world.items[:2])
    db.add(visit)
    db.flush()
    for position, inspector in enumerate(team or [world.alice, world.bob]):
        db.add(VisitInspector(visit_id=visit.id, inspector_id=inspector.id, position=position))
    db.commit()
    return visit


def counts(db: Session) -> tuple[int, int, int]:
    """(scans, audit events, flags): what a read-only request must leave unchanged."""
    db.rollback()  # a fresh snapshot: see what other connections committed
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Scan)) or 0,
        db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        db.scalar(select(func.count()).select_from(Flag)) or 0,
    )


def scans(db: Session) -> list[Scan]:
    db.rollback()  # a fresh snapshot: see what other connections committed
    db.expire_all()
    return list(db.scalars(select(Scan).order_by(Scan.id)))


def flags(db: Session) -> list[Flag]:
    db.rollback()  # a fresh snapshot: see what other connections committed
    db.expire_all()
    return list(db.scalars(select(Flag).order_by(Flag.id)))


def token_of(visit: Visit, *, now: datetime, settings: Settings) -> str:
    return passes.current_pass(visit, now=now, settings=settings).token


def url_of(visit: Visit, *, now: datetime, settings: Settings) -> str:
    return passes.current_pass(visit, now=now, settings=settings).url


def path_of(url: str) -> str:
    """A pass URL's path and query, for the test client (which has its own host)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def code_of(visit: Visit, *, now: datetime, settings: Settings) -> str:
    return passes.current_pass(visit, now=now, settings=settings).code


# --- hand-made tokens (no JWT library: what an attacker could write) ------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT signed with HS256 over `secret`, or with an empty signature if None."""
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def genuine_claims(visit: Visit, *, now: datetime, settings: Settings) -> dict[str, Any]:
    step = security.step_of(now, settings.pass_step_seconds)
    return {
        "iss": security.PASS_ISSUER,
        "aud": security.PASS_AUDIENCE,
        "sub": visit.public_id,
        "ent": visit.enterprise_id,
        "stp": step,
        "iat": step * settings.pass_step_seconds,
        "exp": (step + settings.pass_accepted_steps) * settings.pass_step_seconds,
    }


def forged_tokens(visit: Visit, *, now: datetime, settings: Settings) -> dict[str, str]:
    """Every kind of bad pass the brief names, each of which must be refused pass_invalid."""
    genuine = token_of(visit, now=now, settings=settings)
    head, body, sig = genuine.split(".")
    middle = len(sig) // 2
    flipped = sig[:middle] + ("A" if sig[middle] != "A" else "B") + sig[middle + 1 :]
    claims = genuine_claims(visit, now=now, settings=settings)
    typ = {"alg": "HS256", "typ": security.PASS_TYP}
    return {
        "flipped_signature": f"{head}.{body}.{flipped}",
        "other_secret": security.issue_pass_token(
            security.new_pass_secret(),
            visit_public_id=visit.public_id,
            enterprise_id=visit.enterprise_id,
            step=claims["stp"],
            step_seconds=settings.pass_step_seconds,
            accepted_steps=settings.pass_accepted_steps,
        ),
        "alg_none": hand_token({"alg": "none", "typ": security.PASS_TYP}, claims, None),
        "missing_claims": hand_token(typ, {"sub": visit.public_id}, visit.pass_secret),
        "huge": hand_token(typ, {**claims, "pad": "x" * 5000}, visit.pass_secret),
        "garbage": "hello, this is not a pass at all",
        "rs256_header": hand_token(
            {"alg": "RS256", "typ": security.PASS_TYP}, claims, visit.pass_secret
        ),
        "wrong_enterprise_claim": hand_token(
            typ, {**claims, "ent": visit.enterprise_id + 1000}, visit.pass_secret
        ),
        "bad_short_code": "ZZZZZ-000-000",
        "unknown_visit_url": "https://testserver/scan?p="
        + hand_token(typ, {**claims, "sub": "no-such-visit"}, visit.pass_secret),
    }


def sign_in(client: TestClient, username: str) -> str:
    """Sign in through the sign-in page, landing on the code page (a page of this domain,
    whatever the role's home is); returns the session's CSRF token."""
    form = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "next": "/scan/enter",
            "csrf_token": csrf_from(form.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/scan/enter"
    return csrf_from(client.get("/scan/enter").text)
