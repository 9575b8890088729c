"""Agencies (a hierarchy), inspectors and their credentials: read within scope, written by
the administrator. Every change writes an audit event in the same transaction."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, selectinload

from webapp.agencies.models import Agency, Credential, Inspector
from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.auth.scope import visible_agency_ids
from webapp.db import begin_write
from webapp.enums import AgencyLevel, CredentialStatus, Role
from webapp.errors import FieldError, forbidden, not_found, validation_error

# Highest first: a child agency sits below its parent.
LEVEL_ORDER = [AgencyLevel.province, AgencyLevel.city, AgencyLevel.county, AgencyLevel.town]
_CODE = re.compile(r"^[A-Za-z0-9_.-]+$")

MAX_PHOTO_BYTES = 2 * 1024 * 1024
PHOTO_HEIGHT = 480
# Far more than any ID photo; refuses decompression bombs before decoding them.
MAX_PHOTO_PIXELS = 40_000_000
PHOTO_TYPE = "image/jpeg"


def _require_admin(actor: User) -> None:
    if actor.role != Role.admin:
        raise forbidden()


def _readable(session: Session, actor: User) -> set[int] | None:
    if actor.role == Role.manager:
        raise forbidden()
    return visible_agency_ids(session, actor)


# --- agencies --------------------------------------------------------------------------------


def list_agencies(session: Session, *, actor: User) -> list[Agency]:
    """The agencies the actor may see (all for an administrator), by code."""
    scope = _readable(session, actor)
    query = select(Agency).options(selectinload(Agency.parent)).order_by(Agency.code)
    if scope is not None:
        query = query.where(Agency.id.in_(scope))
    return list(session.scalars(query))


def create_agency(
    session: Session,
    *,
    actor: User,
    name: str,
    code: str,
    level: AgencyLevel | None,
    parent_id: int | None,
    now: datetime,
) -> Agency:
    """Admin: a new agency, at the top or below an agency of a higher level."""
    _require_admin(actor)
    begin_write(session)
    errors: list[FieldError] = []
    name = name.strip()
    code = code.strip()
    if not name:
        errors.append(FieldError("name", "Give the agency's name."))
    elif len(name) > 200:
        errors.append(FieldError("name", "The name can be at most 200 characters."))
    if not code:
        errors.append(FieldError("code", "Give the agency's code (letters, digits, - _ .)."))
    elif len(code) > 32 or not _CODE.match(code):
        errors.append(
            FieldError(
                "code", "The code is at most 32 letters, digits, dashes, dots or underscores."
            )
        )
    else:
        clash = session.scalar(select(Agency).where(Agency.code == code))
        if clash is not None:
            errors.append(
                FieldError(
                    "code",
                    "The code %(code)s is already used by %(name)s.",
                    code=code,
                    name=clash.name,
                )
            )
    if level is None:
        errors.append(FieldError("level", "Choose the agency's level."))
    if parent_id is not None:
        parent = session.get(Agency, parent_id)
        if parent is None:
            errors.append(FieldError("parent_id", "Choose the parent agency from the list."))
        elif level is not None and LEVEL_ORDER.index(parent.level) >= LEVEL_ORDER.index(level):
            errors.append(
                FieldError(
                    "parent_id",
                    "The parent agency must be at a higher level "
                    "(province, then city, then county, then town).",
                )
            )
    if errors:
        session.rollback()
        raise validation_error(errors)
    assert level is not None
    agency = Agency(name=name, code=code, level=level, parent_id=parent_id, created_at=now)
    session.add(agency)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="agency.created",
        object_type="agency",
        object_id=agency.id,
        now=now,
        data={"name": name, "code": code, "level": level.value, "parent_id": parent_id},
    )
    session.commit()
    return agency


# --- photos ----------------------------------------------------------------------------------


def prepare_photo(data: bytes) -> tuple[bytes | None, FieldError | None]:
    """A JPEG or PNG of at most 2 MB, verified and re-encoded as a JPEG at most 480 px tall
    (pages carry photos inline, so they stay light). Returns (jpeg, None) or (None, why)."""
    if len(data) > MAX_PHOTO_BYTES:
        return None, FieldError(
            "photo",
            "The photo is larger than 2 MB. Upload a smaller JPEG or PNG "
            "(an ID photo needs far less).",
        )
    not_a_picture = FieldError(
        "photo", "This file is not a JPEG or PNG picture. Upload the inspector's photo."
    )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            width, height = probe.size
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, not_a_picture
    if kind not in ("JPEG", "PNG"):
        return None, FieldError(
            "photo",
            "The photo must be a JPEG or PNG picture; this one is %(format)s.",
            format=kind or "?",
        )
    if width * height > MAX_PHOTO_PIXELS:
        return None, FieldError(
            "photo",
            "The picture is %(width)s × %(height)s pixels: too large. Upload an ID photo.",
            width=width,
            height=height,
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            picture = ImageOps.exif_transpose(image)
            if picture.mode in ("RGBA", "LA", "P"):
                picture = picture.convert("RGBA")
                background = Image.new("RGB", picture.size, (255, 255, 255))
                background.paste(picture, mask=picture.getchannel("A"))
                picture = background
            else:
                picture = picture.convert("RGB")
            if picture.height > PHOTO_HEIGHT:
                new_width = max(1, round(picture.width * PHOTO_HEIGHT / picture.height))
                picture = picture.resize((new_width, PHOTO_HEIGHT), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            picture.save(out, format="JPEG", quality=85, optimize=True)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, not_a_picture
    return out.getvalue(), None


# --- inspectors and credentials --------------------------------------------------------------


@dataclass(frozen=True)
class _CredentialInput:
    """A credential as the form gave it (the number trimmed), before it is checked."""

    number: str
    issuing_agency_id: int | None
    valid_from: date | None
    valid_until: date | None
    status: CredentialStatus | None


def _credential_errors(session: Session, credential: _CredentialInput) -> list[FieldError]:
    errors: list[FieldError] = []
    number = credential.number
    if not number:
        errors.append(FieldError("number", "Give the credential's number, as printed on it."))
    elif len(number) > 64:
        errors.append(FieldError("number", "The credential number can be at most 64 characters."))
    else:
        holder = session.scalar(
            select(Inspector.name)
            .join(Credential, Credential.inspector_id == Inspector.id)
            .where(Credential.number == number)
        )
        if holder is not None:
            errors.append(
                FieldError(
                    "number",
                    "Credential number %(number)s is already recorded, for %(name)s.",
                    number=number,
                    name=holder,
                )
            )
    issuer = credential.issuing_agency_id
    if issuer is None or session.get(Agency, issuer) is None:
        errors.append(
            FieldError("issuing_agency_id", "Choose the agency that issued the credential.")
        )
    valid_from, valid_until = credential.valid_from, credential.valid_until
    if valid_from is None:
        errors.append(
            FieldError("valid_from", "Give the date the credential is valid from (YYYY-MM-DD).")
        )
    if valid_until is None:
        errors.append(
            FieldError("valid_until", "Give the date the credential is valid until (YYYY-MM-DD).")
        )
    if valid_from and valid_until and valid_from > valid_until:
        errors.append(
            FieldError(
                "valid_until",
                "The credential ends before it starts: 'valid until' must be on or after "
                "'valid from'.",
            )
        )
    if credential.status is None:
        errors.append(FieldError("status", "Choose the credential's status."))
    return errors


def create_inspector(
    session: Session,
    *,
    actor: User,
    name: str,
    agency_id: int | None,
    photo: bytes | None,
    credential_number: str,
    issuing_agency_id: int | None,
    valid_from: date | None,
    valid_until: date | None,
    status: CredentialStatus | None,
    now: datetime,
) -> Inspector:
    """Admin: an inspector with a photo and their first credential, all or nothing."""
    _require_admin(actor)
    begin_write(session)
    errors: list[FieldError] = []
    name = name.strip()
    if not name:
        errors.append(FieldError("name", "Give the inspector's full name."))
    elif len(name) > 100:
        errors.append(FieldError("name", "The name can be at most 100 characters."))
    if agency_id is None or session.get(Agency, agency_id) is None:
        errors.append(FieldError("agency_id", "Choose the inspector's agency."))
    jpeg = None
    if photo:
        jpeg, problem = prepare_photo(photo)
        if problem is not None:
            errors.append(problem)
    credential = _CredentialInput(
        credential_number.strip(), issuing_agency_id, valid_from, valid_until, status
    )
    errors += _credential_errors(session, credential)
    if errors:
        session.rollback()
        raise validation_error(errors)
    assert agency_id is not None
    inspector = Inspector(
        name=name,
        agency_id=agency_id,
        photo=jpeg,
        photo_type=PHOTO_TYPE if jpeg else None,
        created_at=now,
    )
    session.add(inspector)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="inspector.created",
        object_type="inspector",
        object_id=inspector.id,
        now=now,
        data={"name": name, "agency_id": agency_id, "photo": jpeg is not None},
    )
    _new_credential(session, actor=actor, inspector_id=inspector.id, given=credential, now=now)
    session.commit()
    session.refresh(inspector)
    return inspector


def _new_credential(
    session: Session, *, actor: User, inspector_id: int, given: _CredentialInput, now: datetime
) -> Credential:
    """Write a credential that `_credential_errors` found nothing wrong with, and its audit
    event (the caller commits)."""
    assert given.issuing_agency_id is not None
    assert given.valid_from is not None
    assert given.valid_until is not None
    assert given.status is not None
    credential = Credential(
        number=given.number,
        inspector_id=inspector_id,
        issuing_agency_id=given.issuing_agency_id,
        valid_from=given.valid_from,
        valid_until=given.valid_until,
        status=given.status,
        created_at=now,
    )
    session.add(credential)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="credential.added",
        object_type="credential",
        object_id=credential.id,
        now=now,
        data={
            "inspector_id": credential.inspector_id,
            "number": credential.number,
            "issuing_agency_id": credential.issuing_agency_id,
            "valid_from": credential.valid_from.isoformat(),
            "valid_until": credential.valid_until.isoformat(),
            "status": credential.status.value,
        },
    )
    return credential


# What the inspector pages show: the agency, and each credential with its issuer.
def _inspector_loads() -> list[Any]:
    return [
        selectinload(Inspector.agency),
        selectinload(Inspector.credentials).selectinload(Credential.issuing_agency),
    ]


def list_inspectors(session: Session, *, actor: User) -> list[Inspector]:
    """Inspectors of the agencies the actor may see, with their credentials, by name. The
    photos stay in the database (a list shows whether there is one: `photo_type`)."""
    scope = _readable(session, actor)
    query = (
        select(Inspector)
        .options(defer(Inspector.photo), *_inspector_loads())
        .order_by(Inspector.name, Inspector.id)
    )
    if scope is not None:
        query = query.where(Inspector.agency_id.in_(scope))
    return list(session.scalars(query))


def get_inspector(session: Session, *, actor: User, inspector_id: int) -> Inspector:
    scope = _readable(session, actor)
    inspector = session.scalar(
        select(Inspector).where(Inspector.id == inspector_id).options(*_inspector_loads())
    )
    if inspector is None or (scope is not None and inspector.agency_id not in scope):
        raise not_found("inspector")
    return inspector


def set_inspector_photo(
    session: Session, *, actor: User, inspector_id: int, photo: bytes, now: datetime
) -> Inspector:
    """Admin: replace an inspector's photo (the old one stays in no page; the change is
    audited)."""
    _require_admin(actor)
    begin_write(session)
    inspector = session.get(Inspector, inspector_id)
    if inspector is None:
        raise not_found("inspector")
    if not photo:
        session.rollback()
        raise validation_error([FieldError("photo", "Choose a JPEG or PNG photo to upload.")])
    jpeg, problem = prepare_photo(photo)
    if problem is not None:
        session.rollback()
        raise validation_error([problem])
    assert jpeg is not None
    inspector.photo = jpeg
    inspector.photo_type = PHOTO_TYPE
    audit.record(
        session,
        actor_id=actor.id,
        action="inspector.photo_changed",
        object_type="inspector",
        object_id=inspector.id,
        now=now,
        data={"bytes": len(jpeg)},
    )
    session.commit()
    return inspector


def add_credential(
    session: Session,
    *,
    actor: User,
    inspector_id: int,
    number: str,
    issuing_agency_id: int | None,
    valid_from: date | None,
    valid_until: date | None,
    status: CredentialStatus | None,
    now: datetime,
) -> Credential:
    """Admin: record another credential of an inspector (e.g. a renewal)."""
    _require_admin(actor)
    begin_write(session)
    inspector = session.get(Inspector, inspector_id)
    if inspector is None:
        raise not_found("inspector")
    given = _CredentialInput(number.strip(), issuing_agency_id, valid_from, valid_until, status)
    errors = _credential_errors(session, given)
    if errors:
        session.rollback()
        raise validation_error(errors)
    credential = _new_credential(
        session, actor=actor, inspector_id=inspector.id, given=given, now=now
    )
    session.commit()
    return credential


def set_credential_status(
    session: Session,
    *,
    actor: User,
    credential_id: int,
    status: CredentialStatus | None,
    note: str,
    now: datetime,
) -> Credential:
    """Admin: suspend, revoke or reinstate a credential; the change and its reason are an
    audit event (from, to, note)."""
    _require_admin(actor)
    begin_write(session)
    credential = session.get(Credential, credential_id)
    if credential is None:
        raise not_found("credential")
    errors: list[FieldError] = []
    note = note.strip()
    if status is None:
        errors.append(FieldError("status", "Choose the new status: valid, suspended or revoked."))
    elif status == credential.status:
        errors.append(FieldError("status", "The credential already has this status."))
    if len(note) > 1000:
        errors.append(FieldError("note", "The note can be at most 1000 characters."))
    if errors:
        session.rollback()
        raise validation_error(errors)
    assert status is not None
    previous = credential.status
    credential.status = status
    audit.record(
        session,
        actor_id=actor.id,
        action="credential.status_changed",
        object_type="credential",
        object_id=credential.id,
        now=now,
        data={
            "inspector_id": credential.inspector_id,
            "number": credential.number,
            "from": previous.value,
            "to": status.value,
            "note": note,
        },
    )
    session.commit()
    return credential
