"""Import pages (administrators): upload a file -> the check page (every bad row, or the
diff with its warnings and an Apply button) -> applying, with a progress bar that polls
until the batch is applied. Templates to fill in, in XLSX and CSV."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from webapp.agencies import service as agencies_service
from webapp.auth.deps import DB, CsrfProtected, Now, WebUser, require
from webapp.auth.models import User
from webapp.enums import ImportKind, ImportStatus, Role
from webapp.errors import DomainError, FieldError, not_found
from webapp.imports import readers, templates
from webapp.imports import service as imports_service
from webapp.imports.kinds import PLAN_KINDS, spec_for
from webapp.imports.models import ImportBatch
from webapp.web import is_htmx, render, shown_errors, translate

log = logging.getLogger("webapp.imports")
router = APIRouter(dependencies=[CsrfProtected])


def admin_user(user: WebUser) -> User:
    return require(user, Role.admin)


AdminUser = Annotated[User, Depends(admin_user)]
Short = Annotated[str, Form(max_length=300)]


def _kind(value: str) -> ImportKind | None:
    try:
        return ImportKind(value)
    except ValueError:
        return None


def _lang(request: Request) -> str:
    return str(getattr(request.state, "lang", "zh_CN"))


def _column_name(kind: ImportKind, key: str, lang: str) -> str:
    spec = spec_for(kind)
    for column in spec.columns:
        if column.key == key:
            return column.zh if lang == "zh_CN" else column.en
    return key


# --- list and upload ---------------------------------------------------------------------------


@router.get("/admin/imports")
def imports_page(request: Request, db: DB, user: AdminUser) -> Response:
    return render(
        request,
        "imports/index.html",
        {
            "kinds": list(ImportKind),
            "batches": imports_service.list_batches(db, actor=user),
            "saved": request.query_params.get("saved") == "1",
        },
    )


def _new_page(
    request: Request,
    db: Session,
    user: User,
    form: dict[str, Any],
    errors: list[FieldError] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "imports/new.html",
        {
            "kinds": list(ImportKind),
            "plan_kinds": [k.value for k in PLAN_KINDS],
            "agencies": agencies_service.list_agencies(db, actor=user),
            "form": form,
            "errors": shown_errors(request, errors or []),
            "max_mb": readers.MAX_BYTES // (1024 * 1024),
        },
        status_code=status_code,
    )


@router.get("/admin/imports/new")
def new_import_page(
    request: Request, db: DB, now: Now, user: AdminUser, kind: str = ""
) -> Response:
    chosen = _kind(kind) or ImportKind.enterprises
    form = {"kind": chosen.value, "year": str(imports_service.local_year(now))}
    return _new_page(request, db, user, form)


def _read_upload(upload: UploadFile | None) -> tuple[bytes, str]:
    """The uploaded bytes (up to just past the limit: a larger file is refused without
    reading all of it) and the file's name."""
    if upload is None or not upload.filename:
        return b"", ""
    return upload.file.read(readers.MAX_BYTES + 1), upload.filename


@router.post("/admin/imports")
def upload(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    kind: Short = "",
    agency_id: Short = "",
    year: Short = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    form = {"kind": kind, "agency_id": agency_id, "year": year}
    chosen = _kind(kind)
    data, filename = _read_upload(file)
    problems: list[FieldError] = []
    if chosen is None:
        problems.append(FieldError("kind", "Choose what the file contains."))
    if not filename:
        problems.append(FieldError("file", "Choose the file to upload (.xlsx or .csv)."))
    parsed_year = int(year) if year.strip().isdigit() and len(year.strip()) == 4 else None
    if year.strip() and parsed_year is None:
        problems.append(FieldError("year", "Give the year as four digits, e.g. 2026."))
    if problems or chosen is None:
        return _new_page(request, db, user, form, problems, status_code=422)
    agency = int(agency_id) if agency_id.strip().isdigit() else None
    try:
        batch = imports_service.check_file(
            db,
            actor=user,
            kind=chosen,
            filename=filename,
            data=data,
            now=now,
            agency_id=agency if chosen in PLAN_KINDS else None,
            year=parsed_year,
        )
    except DomainError as exc:
        if exc.code == "forbidden":
            raise
        db.rollback()
        errors = exc.errors or [FieldError(exc.field or "file", exc.message, **exc.params)]
        status = exc.status if exc.status != 400 else 422
        return _new_page(request, db, user, form, errors, status_code=status)
    return RedirectResponse(f"/admin/imports/{batch.id}", status_code=303)


@router.get("/admin/imports/template/{filename}")
def template(filename: str, user: AdminUser) -> Response:
    stem, _, fmt = filename.rpartition(".")
    kind = _kind(stem)
    if kind is None or fmt not in templates.FORMATS:
        raise not_found("template")
    data, name, media_type = templates.template_for(kind, fmt)
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- one batch -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ShownError:
    line: int
    column: str
    message: str


@dataclass(frozen=True)
class _ShownSample:
    line: int
    key: str
    label: str
    note: str
    fields: list[tuple[str, str, str]]  # column name, old, new


def _batch_page(
    request: Request, db: Session, batch: ImportBatch, *, status_code: int = 200
) -> Response:
    lang = _lang(request)
    found = imports_service.report(db, batch)

    def samples(items: list[imports_service.Sample]) -> list[_ShownSample]:
        return [
            _ShownSample(
                s.line,
                s.key,
                s.label,
                s.note,
                [(_column_name(batch.kind, f, lang), old, new) for f, old, new in s.fields],
            )
            for s in items
        ]

    failure = None
    if found.failure is not None:
        code, message, params = found.failure
        failure = (code, translate(lang, message, params))
    progress = None
    if batch.status == ImportStatus.applying:
        progress = imports_service.batch_progress(db, actor=None, batch_id=batch.id)
    return render(
        request,
        "imports/batch.html",
        {
            "batch": batch,
            "errors": [
                _ShownError(e.line, e.column, translate(lang, e.message, e.params))
                for e in found.errors
            ],
            "error_count": found.error_count,
            "added": samples(found.added),
            "changed": samples(found.changed),
            "warnings": [translate(lang, m, p) for m, p in found.warnings],
            "plans": found.plans,
            "skipped_example": found.skipped_example,
            "failure": failure,
            "same_file": found.same_file_applied,
            "progress": progress,
            "samples_max": imports_service.SAMPLES,
        },
        status_code=status_code,
    )


@router.get("/admin/imports/{batch_id:int}")
def batch_page(request: Request, db: DB, user: AdminUser, batch_id: int) -> Response:
    batch = imports_service.get_batch(db, actor=user, batch_id=batch_id)
    return _batch_page(request, db, batch)


def _apply_in_background(request: Request, batch_id: int, user_id: int) -> None:
    """Apply a large batch after the response went out, with a session of its own."""
    state = request.app.state
    with state.sessionmaker(bind=state.write_engine) as session:
        actor = session.get(User, user_id)
        try:
            imports_service.run_apply(
                session, actor=actor, batch_id=batch_id, now=state.clock.now()
            )
        except Exception:
            # run_apply marked the batch failed with its reason; the page shows it.
            log.exception("import %s failed", batch_id)


@router.post("/admin/imports/{batch_id:int}/apply")
def apply(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    batch_id: int,
    background: BackgroundTasks,
) -> Response:
    batch = imports_service.start_apply(db, actor=user, batch_id=batch_id, now=now)
    if batch.total_rows > imports_service.BACKGROUND_ROWS:
        # The request's transaction is over (start_apply committed): the thread takes the
        # write lock with a session of its own.
        background.add_task(_apply_in_background, request, batch_id, user.id)
    else:
        try:
            imports_service.run_apply(db, actor=user, batch_id=batch_id, now=now)
        except DomainError as exc:
            if exc.code != "import_stale":
                raise
            batch = imports_service.get_batch(db, actor=user, batch_id=batch_id)
            return _batch_page(request, db, batch, status_code=exc.status)
    return RedirectResponse(f"/admin/imports/{batch_id}", status_code=303)


@router.post("/admin/imports/{batch_id:int}/discard")
def discard(request: Request, db: DB, now: Now, user: AdminUser, batch_id: int) -> Response:
    imports_service.discard_batch(db, actor=user, batch_id=batch_id, now=now)
    return RedirectResponse(f"/admin/imports/{batch_id}", status_code=303)


@router.get("/admin/imports/{batch_id:int}/progress")
def progress(request: Request, db: DB, user: AdminUser, batch_id: int) -> Response:
    """Fragment: processed/total while applying; once done, htmx reloads the page (which
    then shows the outcome)."""
    state = imports_service.batch_progress(db, actor=user, batch_id=batch_id)
    headers = {}
    if state.status != ImportStatus.applying and is_htmx(request):
        headers["HX-Refresh"] = "true"
    return render(
        request,
        "imports/_progress.html",
        {"batch_id": batch_id, "progress": state},
        headers=headers,
    )
