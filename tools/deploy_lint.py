"""Lint the production shape without Docker: `python -m tools.deploy_lint` (run by `make lint`).

- docker-compose.yml against the Compose Specification's JSON schema, vendored and pinned in
  deploy/schema/compose-spec.json: taken from the PyPI wheel check-jsonschema 0.39.0
  (check_jsonschema/builtin_schemas/vendor/compose-spec.json, vendored there from
  https://github.com/compose-spec/compose-spec/blob/main/schema/compose-spec.json; Apache-2.0,
  deploy/schema/LICENSE.compose-spec); its SHA-256 is checked below;
- our own rules: every service has a healthcheck or is a one-shot its dependants wait for;
  images pinned; no secret written into the file; the commands are the ones the test
  tests/deploy/test_production_shape.py runs (it reads them from here, through `app_command`
  and `migrate_command`), on the port the healthcheck and the proxy use; every setting the
  compose file or deploy/env.example names is one the app (webapp/config.py) reads;
- deploy/nginx.conf through Debian's `nginx -t`, with the upstream hosts replaced by
  127.0.0.1 and the ports, paths and certificate made local (`local_nginx_conf`, which the
  test uses to run the same file).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
SCHEMA = ROOT / "deploy" / "schema" / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

MIGRATE = ["python", "-m", "webapp", "migrate"]
SERVE = ["python", "-m", "webapp", "serve"]
# Settings of the database container (the postgres image), not of the app.
DB_SETTINGS = {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB"}
# Read by uvicorn itself (which proxies it trusts), not by webapp/config.py.
SERVER_SETTINGS = {"FORWARDED_ALLOW_IPS"}
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?+][^}]*)?\}")
_IMAGE = re.compile(r"^[^@\s]+(@sha256:[0-9a-f]{64})?$")


class DeployLintError(Exception):
    """The compose file or the proxy configuration is not what the lint and the test expect."""


# --- reading docker-compose.yml ----------------------------------------------------------------


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    """The compose file as data (YAML anchors and `<<` merges resolved, `${...}` kept)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise DeployLintError(f"{path.name}: not a mapping")
    return data


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    services = compose.get("services") or {}
    service = services.get(name)
    if not isinstance(service, dict):
        raise DeployLintError(f"docker-compose.yml has no service {name!r}")
    return service


def _command(compose: dict[str, Any], name: str) -> list[str]:
    command = _service(compose, name).get("command")
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise DeployLintError(f"service {name!r}: write `command` as a list of strings")
    return list(command)


def migrate_command(compose: dict[str, Any]) -> list[str]:
    """The `migrate` service's command, as run by the test (`python` is the venv's there)."""
    return _command(compose, "migrate")


def app_command(compose: dict[str, Any]) -> list[str]:
    """The `app` service's command, as run by the test (with its own host and port)."""
    return _command(compose, "app")


def option(command: list[str], name: str) -> str:
    """The value after `name` in a command line."""
    try:
        return command[command.index(name) + 1]
    except (ValueError, IndexError):
        raise DeployLintError(f"{' '.join(command)!r} has no {name} VALUE") from None


def with_option(command: list[str], name: str, value: str) -> list[str]:
    """The command with `name`'s value replaced (e.g. the test's own port)."""
    i = command.index(name)
    return [*command[: i + 1], value, *command[i + 2 :]]


def app_replicas(compose: dict[str, Any]) -> int:
    deploy = _service(compose, "app").get("deploy") or {}
    return int(deploy.get("replicas", 1))


def app_environment(compose: dict[str, Any]) -> dict[str, str]:
    """The environment the compose file itself gives the app (not the operator's .env)."""
    env = _service(compose, "app").get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


# --- the checks ----------------------------------------------------------------------------


def schema_errors(compose: dict[str, Any]) -> list[str]:
    digest = hashlib.sha256(SCHEMA.read_bytes()).hexdigest()
    if digest != SCHEMA_SHA256:
        return [f"{SCHEMA.relative_to(ROOT)} changed (sha256 {digest}); re-pin it here"]
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    return [
        f"docker-compose.yml: {'/'.join(str(p) for p in e.instance_path) or '(top)'}: {e.message}"
        for e in validator.iter_errors(compose)
    ]


def _pinned(image: object) -> bool:
    """`name:tag` with a version number in the tag (not `latest`), or a digest."""
    if not isinstance(image, str) or not _IMAGE.match(image):
        return False
    if "@sha256:" in image:
        return True
    last = image.split("/")[-1]  # a registry's host:port is not a tag
    tag = last.split(":", 1)[1] if ":" in last else ""
    return any(c.isdigit() for c in tag) and not tag.startswith("latest")


def _depends_on(service: dict[str, Any]) -> dict[str, Any]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # the short form: no condition
        return {name: {} for name in depends}
    return dict(depends)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _env_example_names(text: str) -> set[str]:
    """Every NAME in `NAME=value` lines, commented out (optional) or not."""
    return set(re.findall(r"^#?[ \t]*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def _app_settings() -> set[str]:
    from webapp.config import Settings

    return {name.upper() for name in Settings.model_fields}


def rule_errors(compose: dict[str, Any], nginx_conf: str, env_example: str) -> list[str]:
    """Our own rules for the production shape (see the module's docstring)."""
    errors: list[str] = []
    services: dict[str, dict[str, Any]] = compose.get("services") or {}
    for required in ("db", "migrate", "app", "proxy"):
        if required not in services:
            errors.append(f"service {required!r} is missing")
    if errors:
        return errors

    waited_for: dict[str, set[str]] = {}
    for name, service in services.items():
        for dependency, spec in _depends_on(service).items():
            condition = (spec or {}).get("condition")
            if condition is None:
                errors.append(f"{name}: depends_on {dependency} needs a condition")
            waited_for.setdefault(dependency, set()).add(str(condition))
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        if one_shot:
            if waited_for.get(name, set()) - {"service_completed_successfully"}:
                errors.append(
                    f"{name}: a one-shot service is waited for with "
                    "condition: service_completed_successfully only"
                )
        elif not (service.get("healthcheck") or {}).get("test"):
            errors.append(f"{name}: a long-running service needs a healthcheck")
        elif "restart" not in service:
            errors.append(f"{name}: say how it restarts (restart: unless-stopped)")
        image = service.get("image")
        if "build" not in service and not _pinned(image):
            errors.append(f"{name}: pin the image to a version tag, not {image!r}")
        if service.get("ports") and name != "proxy":
            errors.append(f"{name}: only the proxy publishes ports")
        env = service.get("environment") or {}
        if isinstance(env, dict):
            for key, value in env.items():
                if _SECRET_NAME.search(str(key)) and not _INTERPOLATION.search(str(value)):
                    errors.append(f"{name}: {key} is written into the file; take it from .env")
        for text in _strings(env):
            for secret in re.findall(r"://[^:/@\s]+:([^@${}\s]+)@", text):
                errors.append(f"{name}: a password is written into a URL ({secret[:2]}...)")

    if migrate_command(compose) != MIGRATE:
        errors.append(f"migrate: the command must be {MIGRATE} (what CI runs)")
    migrate_deps = _depends_on(services["migrate"])
    if (migrate_deps.get("db") or {}).get("condition") != "service_healthy":
        errors.append("migrate: depends on db with condition: service_healthy")
    app_deps = _depends_on(services["app"])
    if (app_deps.get("migrate") or {}).get("condition") != "service_completed_successfully":
        errors.append("app: depends on migrate with condition: service_completed_successfully")

    command = app_command(compose)
    try:
        if command[:4] != SERVE:
            raise DeployLintError(f"app: the command must start with {SERVE}")
        port = option(command, "--port")
        if option(command, "--host") != "0.0.0.0":  # noqa: S104 -- inside its container
            errors.append("app: serve on --host 0.0.0.0 (the proxy is another container)")
        if int(option(command, "--workers")) < 1:
            errors.append("app: --workers must be at least 1")
        if f":{port}/" not in " ".join(services["app"]["healthcheck"]["test"]):
            errors.append(f"app: the healthcheck must ask port {port}")
        upstreams = re.findall(
            r"^[ \t]*server[ \t]+(\S+)", _upstream_block(nginx_conf), re.MULTILINE
        )
        if upstreams != [f"app:{port}"]:
            errors.append(f"deploy/nginx.conf: upstream must be `server app:{port}`")
    except (DeployLintError, KeyError, ValueError) as exc:
        errors.append(str(exc))
    if app_replicas(compose) < 2:
        errors.append("app: the production shape runs several app containers (deploy.replicas)")

    proxy_networks = services["proxy"].get("networks") or {}
    addresses = {
        str(spec.get("ipv4_address"))
        for spec in (proxy_networks.values() if isinstance(proxy_networks, dict) else [])
        if isinstance(spec, dict) and spec.get("ipv4_address")
    }
    trusted = app_environment(compose).get("FORWARDED_ALLOW_IPS", "")
    if not addresses or set(trusted.split(",")) != addresses:
        errors.append(
            "app: FORWARDED_ALLOW_IPS must be the proxy's fixed address "
            f"({', '.join(sorted(addresses)) or 'give the proxy an ipv4_address'}), not {trusted!r}"
        )

    known = _app_settings() | DB_SETTINGS | SERVER_SETTINGS
    example = _env_example_names(env_example)
    for unknown in sorted(example - known):
        errors.append(f"deploy/env.example: {unknown} is not a setting the app reads")
    for key in sorted(app_environment(compose)):
        if key not in known:
            errors.append(f"app: {key} is not a setting the app reads")
    used = {name for text in _strings(compose) for name in _INTERPOLATION.findall(text)}
    for missing in sorted(used - example):
        errors.append(f"docker-compose.yml uses ${{{missing}}}: explain it in deploy/env.example")
    for required in ("SECRET_KEY", "BASE_URL", "POSTGRES_PASSWORD"):
        if required not in example:
            errors.append(f"deploy/env.example must ask for {required}")
    return errors


# --- nginx ---------------------------------------------------------------------------------


def _upstream_block(conf: str) -> str:
    match = re.search(r"upstream\s+app\s*\{(.*?)\}", conf, re.DOTALL)
    if not match:
        raise DeployLintError("deploy/nginx.conf has no `upstream app { ... }`")
    return match.group(1)


def _replace_once(conf: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, lambda _m: replacement, conf, flags=re.MULTILINE)
    if count != 1:
        raise DeployLintError(f"deploy/nginx.conf: expected one line matching {pattern!r}")
    return new


def local_nginx_conf(
    conf: str,
    *,
    upstreams: list[str],
    http_port: int,
    https_port: int,
    cert: Path,
    key: Path,
    workdir: Path,
) -> str:
    """deploy/nginx.conf made runnable on this machine, unprivileged: the app's upstream
    servers replaced by `upstreams` (host:port), both listeners on 127.0.0.1 ports, the
    certificate, pid, logs and temporary files in `workdir`. Everything else is as in the
    file; a line that is not found exactly once is an error (the file and this drifted)."""
    block = _upstream_block(conf)
    line = re.search(r"^([ \t]*)server[ \t]+\S+([^\n]*)\n", block, re.MULTILINE)
    if line is None:
        raise DeployLintError("deploy/nginx.conf: `upstream app` has no server line")
    indent, rest = line.group(1), line.group(2)
    servers = "".join(f"{indent}server {u}{rest}\n" for u in upstreams)
    conf = conf.replace(block, block.replace(line.group(0), servers, 1))
    conf = _replace_once(conf, r"^[ \t]*listen 80;$", f"        listen 127.0.0.1:{http_port};")
    conf = _replace_once(
        conf, r"^[ \t]*listen 443 ssl;$", f"        listen 127.0.0.1:{https_port} ssl;"
    )
    conf = _replace_once(conf, r"^[ \t]*ssl_certificate \S+;$", f"        ssl_certificate {cert};")
    conf = _replace_once(
        conf, r"^[ \t]*ssl_certificate_key \S+;$", f"        ssl_certificate_key {key};"
    )
    conf = _replace_once(conf, r"^pid \S+;$", f"pid {workdir / 'nginx.pid'};")
    conf = _replace_once(
        conf, r"^error_log \S+", f"error_log {workdir / 'error.log'}"
    )  # keeps its level
    conf = _replace_once(
        conf,
        r"^[ \t]*access_log /var/log/nginx/access.log",
        f"    access_log {workdir / 'access.log'}",
    )
    temp = "".join(
        f"    {kind}_temp_path {workdir / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return _replace_once(conf, r"^http \{$", "http {\n" + temp)


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate for `host` (the lint's `nginx -t` and the test's proxy)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


def nginx_errors(conf: str) -> list[str]:
    """`nginx -t` on the configuration, made local (Debian's nginx: `make system-deps`)."""
    nginx = nginx_binary()
    if nginx is None:
        return ["nginx is not installed: run `make system-deps` (Debian's nginx)"]
    with tempfile.TemporaryDirectory(prefix="deploy-lint-") as tmp:
        work = Path(tmp)
        cert, key = self_signed_certificate(work)
        try:
            local = local_nginx_conf(
                conf,
                upstreams=["127.0.0.1:8000"],
                http_port=8080,
                https_port=8443,
                cert=cert,
                key=key,
                workdir=work,
            )
        except DeployLintError as exc:
            return [str(exc)]
        path = work / "nginx.conf"
        path.write_text(local)
        done = subprocess.run(  # noqa: S603 -- our own arguments
            [nginx, "-t", "-q", "-p", str(work), "-e", str(work / "error.log"), "-c", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return [f"deploy/nginx.conf: nginx -t: {(done.stderr or done.stdout).strip()}"]
    return []


def main() -> int:
    compose = load_compose()
    conf = NGINX_CONF.read_text()
    errors = [
        *schema_errors(compose),
        *rule_errors(compose, conf, ENV_EXAMPLE.read_text()),
        *nginx_errors(conf),
    ]
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        return 1
    print("deploy: docker-compose.yml and deploy/nginx.conf check out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
