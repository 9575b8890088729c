"""The floor of the confirmation benchmark (`bench/bench_confirm.py`): the app itself, plus
one bare endpoint that inserts and commits one row through the same engine, session and
request machinery. A confirmation is measured against it.

Never part of the default app (`webapp.asgi:app` does not include it) and never deployed:
importing `webapp.benchfloor:app` refuses unless `BENCH_FLOOR=true` is set. The table it
writes, `bench_floor`, is not part of the schema (not in the migrations, not in
`Base.metadata`): the benchmark creates it in its own throwaway database.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from webapp.auth.deps import DB, Now
from webapp.db import UTCDateTime, begin_write

FLOOR_PATH = "/bench/floor"

# Its own MetaData: the migration test compares Base.metadata with the migrations.
floor_metadata = MetaData()
floor_table = Table(
    "bench_floor",
    floor_metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("note", String(40), nullable=False),
)

router = APIRouter()


@router.post(FLOOR_PATH, status_code=201, include_in_schema=False)
def floor(db: DB, now: Now) -> dict[str, int]:
    """Insert one row and commit: what any write request of this app costs at least."""
    begin_write(db)
    result = db.connection().execute(insert(floor_table).values(at=now, note="floor"))
    new_id = result.inserted_primary_key
    db.commit()
    return {"id": int(new_id[0]) if new_id else 0}


def enabled() -> bool:
    return os.environ.get("BENCH_FLOOR", "").strip().lower() == "true"


def create_bench_app() -> FastAPI:
    """The default app with the floor endpoint added (BENCH_FLOOR=true only)."""
    if not enabled():
        raise RuntimeError("webapp.benchfloor is for `make bench` only: set BENCH_FLOOR=true")
    from webapp.app import create_app, freeze_startup_objects

    app = create_app()
    app.include_router(router)
    freeze_startup_objects()  # as webapp.asgi does
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn webapp.benchfloor:app` builds the app on first access, so merely importing
    # this module (mypy, tests) neither needs BENCH_FLOOR nor opens a database.
    if name == "app":
        return create_bench_app()
    raise AttributeError(name)
