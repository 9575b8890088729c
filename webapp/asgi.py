"""The ASGI application for uvicorn (`webapp.asgi:app`)."""

from webapp.app import create_app

app = create_app()
