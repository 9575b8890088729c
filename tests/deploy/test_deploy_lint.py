"""tools/deploy_lint.py (run by `make lint`): the repository's docker-compose.yml and
deploy/nginx.conf pass it, and each rule refuses the mistake it is there for."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tools import deploy_lint

NGINX = deploy_lint.NGINX_CONF.read_text()
ENV_EXAMPLE = deploy_lint.ENV_EXAMPLE.read_text()
needs_nginx = pytest.mark.skipif(
    deploy_lint.nginx_binary() is None, reason="nginx is not installed (make system-deps)"
)


def _compose() -> dict[str, Any]:
    return copy.deepcopy(deploy_lint.load_compose())


def _rules(compose: dict[str, Any], nginx: str = NGINX, env: str = ENV_EXAMPLE) -> list[str]:
    return deploy_lint.rule_errors(compose, nginx, env)


def test_the_repository_files_pass() -> None:
    compose = _compose()
    assert deploy_lint.schema_errors(compose) == []
    assert _rules(compose) == []


@needs_nginx
def test_the_proxy_configuration_passes_nginx_t() -> None:
    assert deploy_lint.nginx_errors(NGINX) == []


def test_the_compose_schema_refuses_what_compose_would() -> None:
    compose = _compose()
    compose["services"]["db"]["healthcheck"]["intervall"] = "5s"
    compose["services"]["app"]["deploy"] = {"replica": 3}
    errors = " ".join(deploy_lint.schema_errors(compose))
    assert "services/db/healthcheck: Additional properties are not allowed" in errors
    assert "services/app/deploy: Additional properties are not allowed ('replica'" in errors


def test_every_long_running_service_has_a_healthcheck() -> None:
    compose = _compose()
    del compose["services"]["proxy"]["healthcheck"]
    assert _rules(compose) == ["proxy: a long-running service needs a healthcheck"]


def test_a_one_shot_is_waited_for_until_it_completed() -> None:
    compose = _compose()
    compose["services"]["app"]["depends_on"]["migrate"]["condition"] = "service_started"
    errors = _rules(compose)
    assert "migrate: a one-shot service is waited for with" in errors[0]
    assert "app: depends on migrate with condition: service_completed_successfully" in errors


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("postgres:15.10-bookworm", True),
        ("nginx:1.28.0-bookworm", True),
        ("registry.example:5000/nginx:1.28.0", True),
        ("postgres@sha256:" + "a" * 64, True),
        ("postgres", False),
        ("postgres:latest", False),
        ("nginx:stable", False),
        ("registry.example:5000/nginx", False),
        ("nginx:latest-1.28", False),
    ],
)
def test_images_are_pinned_to_a_version(image: str, pinned: bool) -> None:
    compose = _compose()
    compose["services"]["db"]["image"] = image
    assert (_rules(compose) == []) is pinned


def test_no_secret_is_written_into_the_file() -> None:
    compose = _compose()
    compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"] = "hunter2hunter2"
    compose["services"]["app"]["environment"]["DATABASE_URL"] = (
        "postgresql+psycopg://inspections:hunter2@db:5432/inspections"
    )
    errors = _rules(compose)
    assert "db: POSTGRES_PASSWORD is written into the file; take it from .env" in errors
    assert any(e.startswith("app: a password is written into a URL (hu...)") for e in errors)


def test_the_commands_are_the_ones_the_test_runs() -> None:
    compose = _compose()
    compose["services"]["migrate"]["command"] = ["alembic", "upgrade", "head"]
    compose["services"]["app"]["command"] = deploy_lint.with_option(
        compose["services"]["app"]["command"], "--port", "9000"
    )
    errors = _rules(compose)
    assert errors[0].startswith("migrate: the command must be")
    assert "app: the healthcheck must ask port 9000" in errors
    assert "deploy/nginx.conf: upstream must be `server app:9000`" in errors


def test_the_app_trusts_forwarded_headers_from_the_proxy_only() -> None:
    compose = _compose()
    compose["services"]["app"]["environment"]["FORWARDED_ALLOW_IPS"] = "*"
    errors = _rules(compose)
    assert len(errors) == 1
    assert errors[0].startswith("app: FORWARDED_ALLOW_IPS must be the proxy's fixed address")


def test_every_setting_named_is_one_the_app_reads() -> None:
    errors = _rules(_compose(), env=ENV_EXAMPLE + "SECRET=abc\n# SWEEP_SECONDS=60\n")
    assert errors == [
        "deploy/env.example: SECRET is not a setting the app reads",
        "deploy/env.example: SWEEP_SECONDS is not a setting the app reads",
    ]
    missing = ENV_EXAMPLE.replace("SECRET_KEY=", "SECRET_KEY_X=")
    assert "deploy/env.example must ask for SECRET_KEY" in _rules(_compose(), env=missing)


def test_the_local_proxy_configuration_replaces_hosts_ports_and_paths(tmp_path: Path) -> None:
    local = deploy_lint.local_nginx_conf(
        NGINX,
        upstreams=["127.0.0.1:9001", "127.0.0.1:9002"],
        http_port=8080,
        https_port=8443,
        cert=tmp_path / "c.pem",
        key=tmp_path / "k.pem",
        workdir=tmp_path,
    )
    assert "server app:" not in local
    assert "server 127.0.0.1:9001 max_fails=3 fail_timeout=10s;" in local
    assert "server 127.0.0.1:9002 max_fails=3 fail_timeout=10s;" in local
    assert "listen 127.0.0.1:8443 ssl;" in local
    assert f"ssl_certificate {tmp_path / 'c.pem'};" in local
    directives = "\n".join(line for line in local.splitlines() if not line.lstrip().startswith("#"))
    assert "/var/" not in directives
    assert "/etc/" not in directives
    # Everything else is the file as it is.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in local
    assert "client_max_body_size 64m;" in local


def test_a_configuration_that_drifted_is_refused(tmp_path: Path) -> None:
    with pytest.raises(deploy_lint.DeployLintError, match="listen 443 ssl"):
        deploy_lint.local_nginx_conf(
            NGINX.replace("listen 443 ssl;", "listen 443 ssl http2;"),
            upstreams=["127.0.0.1:9001"],
            http_port=8080,
            https_port=8443,
            cert=tmp_path / "c.pem",
            key=tmp_path / "k.pem",
            workdir=tmp_path,
        )


@needs_nginx
def test_nginx_t_refuses_a_broken_configuration() -> None:
    errors = deploy_lint.nginx_errors(NGINX.replace("proxy_read_timeout 120s;", "proxy_read 1;"))
    assert len(errors) == 1
    assert 'unknown directive "proxy_read"' in errors[0]
