"""The ASGI application for uvicorn (`webapp.asgi:app`)."""

from webapp.app import create_app, freeze_startup_objects

app = create_app()
freeze_startup_objects()
