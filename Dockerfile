# The app on Python 3.11 (Debian bookworm, like the machines CI runs on).
# Build: docker build -t inspection-registry .
# Run:   docker run -p 8000:8000 -e SECRET_KEY=... -e BASE_URL=https://... \
#          -e DATABASE_URL=sqlite:////data/inspections.sqlite3 -v data:/data inspection-registry
# A county runs it like that (one container, SQLite on the volume). A province runs the same
# image against PostgreSQL (DATABASE_URL=postgresql+psycopg://...; psycopg's binary wheel in
# requirements.lock brings libpq): docker-compose.yml, with a one-shot `migrate` service and
# the app containers serving only (their `command` replaces the CMD below).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Same steps as `make setup`: the pinned runtime lock file first (a cached layer), then the
# project's files; the app runs from /app (templates and static beside the package).
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock
COPY webapp ./webapp
COPY templates ./templates
COPY static ./static
COPY alembic ./alembic
COPY alembic.ini README.md ./
RUN useradd --system --uid 10001 --home-dir /app app \
    && mkdir /data && chown app /data

USER 10001
VOLUME ["/data"]
EXPOSE 8000

# Migrations are the only way the schema changes: apply them, then serve.
CMD ["sh", "-c", "python -m webapp migrate && exec python -m webapp serve --host 0.0.0.0 --port 8000"]
