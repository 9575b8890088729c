"""Settings: the only reader of environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Accepted only in demo mode; anywhere else the app refuses to start with it.
DEMO_SECRET = "demo-secret-not-for-production-use-0000000000"


class Settings(BaseSettings):
    """Configuration, read from the environment (and `.env` if present)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///inspections.sqlite3"
    # Signs session-bound CSRF tokens and derives other keys; must be long and random.
    secret_key: str = Field(default="", min_length=0)
    # The public HTTPS origin the pass (QR) URLs point at, e.g. https://jiancha.example.gov.cn
    base_url: str = "http://127.0.0.1:8000"
    demo_mode: bool = False
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"
    cookie_secure: bool = True

    # The pass: a new token every step; the current and previous step are accepted.
    pass_step_seconds: int = Field(default=30, ge=10, le=300)
    pass_accepted_steps: int = Field(default=2, ge=1, le=4)
    # How far before or after its window a visit may still be confirmed.
    window_tolerance_minutes: int = Field(default=30, ge=0, le=240)
    # A visit registered less than this before its confirming scan is flagged.
    short_notice_minutes: int = Field(default=30, ge=0, le=1440)
    # How often a worker looks for windows that passed unconfirmed.
    sweep_interval_seconds: int = Field(default=300, ge=0)

    # An extra visit (no plan entry) needs a supervisor's approval before its pass confirms
    # ("confirm"), or before its pass is even shown ("issue").
    extra_visit_approval: Literal["confirm", "issue"] = "confirm"

    # Sign-in throttling: failed attempts allowed per account and per client address within
    # the window before further attempts are refused until the window has passed.
    signin_window_minutes: int = Field(default=15, ge=1)
    signin_max_failures_per_account: int = Field(default=5, ge=1)
    signin_max_failures_per_address: int = Field(default=20, ge=1)

    session_idle_minutes: int = Field(default=120, ge=5)
    session_absolute_hours: int = Field(default=12, ge=1)
    api_token_hours: int = Field(default=12, ge=1)

    @model_validator(mode="after")
    def _passes_point_at_https(self) -> Self:
        """The QR pass is an HTTPS URL; plain HTTP only on this machine's loopback (a demo
        or a test) or in demo mode."""
        url = urlsplit(self.base_url)
        loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(
                f"BASE_URL must be a full URL such as https://jiancha.example.gov.cn, "
                f"not {self.base_url!r}."
            )
        if url.scheme == "http" and not (loopback or self.demo_mode):
            raise ValueError(
                "BASE_URL must start with https:// (the QR passes point at it and phones open "
                "it over the internet); plain http:// is accepted only for 127.0.0.1/localhost "
                "or in demo mode."
            )
        if url.path not in ("", "/") or url.query:
            raise ValueError("BASE_URL is the origin only (no path or query), e.g. https://host.")
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Self:
        if self.demo_mode:
            if not self.secret_key:
                self.secret_key = DEMO_SECRET
            return self
        if not self.secret_key or self.secret_key == DEMO_SECRET:
            raise ValueError(
                "SECRET_KEY is not set. Outside demo mode the app refuses to start without its "
                "own key: set SECRET_KEY to at least 32 random characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
            )
        if len(self.secret_key) < 32:
            raise ValueError("SECRET_KEY is too short: use at least 32 random characters.")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
