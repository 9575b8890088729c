"""POST /api/v1/auth/token (OAuth2 password form) and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from webapp.auth import service as auth_service
from webapp.auth.deps import DB, ApiUser, Now, SettingsDep
from webapp.auth.schemas import Me, Token

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=Token)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    db: DB,
    now: Now,
    settings: SettingsDep,
) -> Token:
    user = auth_service.authenticate(
        db,
        username=form.username,
        password=form.password,
        address=request.client.host if request.client else "",
        kind="api",
        now=now,
        settings=settings,
    )
    secret, row = auth_service.start_session(db, user=user, kind="api", now=now, settings=settings)
    return Token(access_token=secret, expires_at=row.expires_at)


@router.post("/auth/logout", status_code=204)
def api_logout(request: Request, db: DB, now: Now, user: ApiUser) -> None:
    from webapp.auth import security

    _, _, secret = request.headers.get("authorization", "").partition(" ")
    auth_service.end_session(
        db, session_id=security.session_id_of(secret.strip()), actor_id=user.id, now=now
    )


@router.get("/me", response_model=Me)
def me(user: ApiUser) -> Me:
    return Me(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        agency_id=user.agency_id,
        enterprise_id=user.enterprise_id,
        inspector_id=user.inspector_id,
    )
