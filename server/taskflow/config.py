"""Settings, read once from an injected environment and validated before anything starts."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse_many

Environment = Literal["development", "test", "production"]

_ENVIRONMENTS: tuple[Environment, ...] = ("development", "test", "production")
_MIN_SECRET_BYTES = 32
_INSTANCE_ID = re.compile(r"^[a-z0-9]{1,16}$")
# Settings that may instead be read from a file named by <NAME>_FILE (Docker/Kubernetes secrets).
_FILE_SETTINGS = ("JWT_SECRET", "JWT_PREVIOUS_SECRET", "REDIS_URL", "MONGODB_URI",
                  "TASKFLOW_METRICS_TOKEN")
_MIN_METRICS_TOKEN_BYTES = 16


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line, fit for a start-up error."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Rate limits in the `limits` notation ("10/minute;100/hour")."""

    enabled: bool = True
    login_per_account: str = "10/minute;50/hour"
    auth_per_address: str = "60/minute;600/hour"
    api_per_user: str = "600/minute"
    # GET /search, per user, on top of api_per_user: a search costs more than a listing.
    search_per_user: str = "10/second;300/minute"
    # POST /boards/import, per user, on top of api_per_user: an import writes a whole board.
    import_per_user: str = "10/minute;100/hour"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything TaskFlow can be configured with; see the README's settings table."""

    env: Environment = "development"
    data_dir: Path = Path("data")
    jwt_secret: str = ""
    jwt_previous_secret: str | None = None
    jwt_issuer: str = "taskflow"
    jwt_audience: str = "taskflow-api"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    redis_url: str | None = None
    # "cluster": REDIS_URL names any node of a Redis Cluster (redisconn.py).
    redis_mode: Literal["single", "cluster"] = "single"
    mongodb_uri: str | None = None
    mongodb_max_pool_size: int = 10
    mongodb_server_selection_timeout_ms: int = 5000
    mongodb_socket_timeout_ms: int = 45000
    # Accept a MongoDB server that is no replica set: writes then run without transactions,
    # so they are not atomic. For emulators and tests only; refused in production.
    mongodb_allow_standalone: bool = False
    cors_origins: tuple[str, ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    max_body_bytes: int = 1024 * 1024
    max_header_bytes: int = 16 * 1024
    log_json: bool = False
    log_level: str = "INFO"
    log_dir: Path | None = None
    instance_id: str = field(default_factory=lambda: "p" + secrets.token_hex(4))
    web_dist: Path | None = None
    stats_ttl: int = 60
    server: Literal["uvicorn", "hypercorn"] = "uvicorn"
    max_upload_bytes: int = 25 * 1024 * 1024
    # POST /boards/import: the largest file, and the most tasks one import may hold.
    max_import_bytes: int = 200 * 1024 * 1024
    import_max_tasks: int = 200_000
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_url_ttl: int = 300
    live_ping_interval: int = 25
    live_ping_timeout: int = 20
    live_max_message_bytes: int = 64 * 1024
    live_max_queue: int = 1000
    live_event_rate: str = "30/second"
    live_connect_rate: str = "300/minute"
    live_sweep_seconds: float = 2.0
    presence_ttl: int = 45
    sqlite_busy_timeout_ms: int = 10_000
    # A live board's events older than this are pruned (its newest 10,000 always stay):
    # how far back a task's activity reaches.
    event_retention_days: int = 365
    # Seconds an Idempotency-Key claim outlives its last renewal (a crashed instance's claim).
    idempotency_lease_seconds: int = 30
    # /metrics: on a listener of its own (not the public port) and, on the public port, only
    # for a request bearing the token (404 otherwise, and always when no token is set).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_token: str | None = None
    # Webhooks: loopback and private receivers allowed (tests, on-premise); never link-local
    # or metadata addresses. How long a failing webhook is retried before it is disabled, and
    # how often an instance looks for events logged by the others.
    webhook_allow_private: bool = False
    webhook_retry_window: int = 24 * 3600
    webhook_poll_seconds: float = 1.0
    # How long a sending instance holds a webhook without renewing it (a crashed sender's
    # webhooks are taken over after this).
    webhook_lease_seconds: int = 30

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate settings; raise SettingsError naming the first bad one."""
        env = _resolve_aws_secret(_resolve_files(environ))
        mode = env.get("TASKFLOW_ENV", "development")
        if mode not in _ENVIRONMENTS:
            raise SettingsError(f"TASKFLOW_ENV must be one of {', '.join(_ENVIRONMENTS)}, got {mode!r}")
        data_dir = Path(env.get("TASKFLOW_DATA_DIR", "data"))
        secret = env.get("JWT_SECRET", "")
        if secret and len(secret.encode()) < _MIN_SECRET_BYTES:
            raise SettingsError(f"JWT_SECRET must be at least {_MIN_SECRET_BYTES} bytes")
        if not secret and mode == "production":
            raise SettingsError(
                "JWT_SECRET must be set (at least 32 random bytes) when TASKFLOW_ENV=production"
            )
        previous = env.get("JWT_PREVIOUS_SECRET") or None
        if previous and len(previous.encode()) < _MIN_SECRET_BYTES:
            raise SettingsError(f"JWT_PREVIOUS_SECRET must be at least {_MIN_SECRET_BYTES} bytes")
        instance_id = env.get("TASKFLOW_INSTANCE_ID")
        if instance_id is not None and not _INSTANCE_ID.match(instance_id):
            raise SettingsError("TASKFLOW_INSTANCE_ID must match [a-z0-9]{1,16}")
        web_dist = env.get("TASKFLOW_WEB_DIST")
        allow_standalone = _bool(env, "TASKFLOW_MONGODB_ALLOW_STANDALONE", False)
        if allow_standalone and mode == "production":
            raise SettingsError("TASKFLOW_MONGODB_ALLOW_STANDALONE is for emulators and tests only "
                                "(writes are then not atomic); it can't be set in production")
        metrics_token = env.get("TASKFLOW_METRICS_TOKEN") or None
        if metrics_token and len(metrics_token.encode()) < _MIN_METRICS_TOKEN_BYTES:
            raise SettingsError(
                f"TASKFLOW_METRICS_TOKEN must be at least {_MIN_METRICS_TOKEN_BYTES} bytes")
        redis_url = _url(env, "REDIS_URL", ("redis", "rediss", "unix"))
        redis_mode = _redis_mode(env, redis_url)
        settings = cls(
            env=mode,
            data_dir=data_dir,
            jwt_secret=secret,
            jwt_previous_secret=previous,
            access_token_ttl=_int(env, "TASKFLOW_ACCESS_TOKEN_TTL", 900, low=10, high=900),
            refresh_token_ttl=_int(env, "TASKFLOW_REFRESH_TOKEN_TTL", 30 * 24 * 3600, low=60),
            redis_url=redis_url,
            redis_mode=redis_mode,  # type: ignore[arg-type]
            mongodb_uri=_url(env, "MONGODB_URI", ("mongodb", "mongodb+srv")),
            mongodb_max_pool_size=_int(env, "MONGODB_MAX_POOL_SIZE", 10, low=1),
            mongodb_server_selection_timeout_ms=_int(
                env, "MONGODB_SERVER_SELECTION_TIMEOUT_MS", 5000, low=100
            ),
            mongodb_socket_timeout_ms=_int(env, "MONGODB_SOCKET_TIMEOUT_MS", 45000, low=100),
            mongodb_allow_standalone=allow_standalone,
            cors_origins=_origins(env.get("CORS_ORIGINS", "")),
            rate_limits=_rate_limits(env),
            trusted_proxies=_networks(env.get("TASKFLOW_TRUSTED_PROXIES", "127.0.0.1/32,::1/128")),
            max_body_bytes=_int(env, "TASKFLOW_MAX_BODY_BYTES", 1024 * 1024, low=1024),
            max_header_bytes=_int(env, "TASKFLOW_MAX_HEADER_BYTES", 16 * 1024, low=1024,
                                  high=1024 * 1024),
            log_json=_bool(env, "TASKFLOW_LOG_JSON", False),
            log_level=_log_level(env.get("TASKFLOW_LOG_LEVEL", "INFO")),
            log_dir=Path(env["TASKFLOW_LOG_DIR"]) if env.get("TASKFLOW_LOG_DIR") else None,
            web_dist=Path(web_dist) if web_dist else None,
            stats_ttl=_int(env, "TASKFLOW_STATS_TTL", 60, low=1, high=60),
            server=_choice(env, "TASKFLOW_SERVER", ("uvicorn", "hypercorn"), "uvicorn"),  # type: ignore[arg-type]
            max_upload_bytes=_int(env, "TASKFLOW_MAX_UPLOAD_MB", 25, low=1, high=5000) * 1024 * 1024,
            max_import_bytes=_int(env, "TASKFLOW_MAX_IMPORT_MB", 200, low=1,
                                  high=10_000) * 1024 * 1024,
            import_max_tasks=_int(env, "TASKFLOW_IMPORT_MAX_TASKS", 200_000, low=1,
                                  high=10_000_000),
            s3_bucket=env.get("S3_BUCKET") or None,
            s3_endpoint_url=_url(env, "S3_ENDPOINT_URL", ("http", "https")),
            s3_region=env.get("S3_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            or None,
            s3_url_ttl=_int(env, "TASKFLOW_S3_URL_TTL", 300, low=10, high=3600),
            live_ping_interval=_int(env, "TASKFLOW_LIVE_PING_INTERVAL", 25, low=1, high=300),
            live_ping_timeout=_int(env, "TASKFLOW_LIVE_PING_TIMEOUT", 20, low=1, high=300),
            live_max_message_bytes=_int(env, "TASKFLOW_LIVE_MAX_MESSAGE_BYTES", 64 * 1024,
                                        low=1024),
            live_max_queue=_int(env, "TASKFLOW_LIVE_MAX_QUEUE", 1000, low=10),
            live_event_rate=_limit(env, "TASKFLOW_LIVE_EVENT_RATE", "30/second"),
            live_connect_rate=_limit(env, "TASKFLOW_LIVE_CONNECT_RATE", "300/minute"),
            live_sweep_seconds=_int(env, "TASKFLOW_LIVE_SWEEP_MS", 2000, low=100) / 1000,
            presence_ttl=_int(env, "TASKFLOW_PRESENCE_TTL", 45, low=5, high=55),
            sqlite_busy_timeout_ms=_int(env, "TASKFLOW_SQLITE_BUSY_TIMEOUT_MS", 10_000, low=100,
                                        high=600_000),
            idempotency_lease_seconds=_int(env, "TASKFLOW_IDEMPOTENCY_LEASE_SECONDS", 30,
                                           low=1, high=3600),
            event_retention_days=_int(env, "TASKFLOW_EVENT_RETENTION_DAYS", 365, low=1,
                                      high=36_500),
            metrics_port=_int(env, "TASKFLOW_METRICS_PORT", 0, low=1, high=65535) or None,
            metrics_host=_host(env, "TASKFLOW_METRICS_HOST", "127.0.0.1"),
            metrics_token=metrics_token,
            webhook_allow_private=_bool(env, "TASKFLOW_WEBHOOK_ALLOW_PRIVATE", False),
            webhook_retry_window=_int(env, "TASKFLOW_WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600,
                                      low=10, high=30 * 24 * 3600),
            webhook_lease_seconds=_int(env, "TASKFLOW_WEBHOOK_LEASE_SECONDS", 30, low=6,
                                       high=3600),
            webhook_poll_seconds=_int(env, "TASKFLOW_WEBHOOK_POLL_MS", 1000, low=100,
                                      high=60_000) / 1000,
            **({"instance_id": instance_id} if instance_id else {}),
        )
        return settings

    def with_data_dir(self) -> Settings:
        """Creates the data dir if needed; SettingsError when it can't be used."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(f"TASKFLOW_DATA_DIR {self.data_dir}: {exc.strerror}") from None
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise SettingsError(f"TASKFLOW_DATA_DIR {self.data_dir} is not writable")
        return self

    def with_jwt_secret(self) -> Settings:
        """Outside production, a missing JWT_SECRET is generated once and kept in the data dir."""
        if self.jwt_secret:
            return self
        path = self.with_data_dir().data_dir / ".jwt-secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        secret = path.read_text().strip()
        if len(secret.encode()) < _MIN_SECRET_BYTES:
            raise SettingsError(f"{path} holds a JWT secret shorter than {_MIN_SECRET_BYTES} bytes")
        return replace(self, jwt_secret=secret)


def _resolve_aws_secret(env: dict[str, str]) -> dict[str, str]:
    """With TASKFLOW_AWS_SECRET_ID, settings also come from that AWS Secrets Manager secret:
    a JSON object of settings by name, filling only the names not set otherwise."""
    secret_id = env.get("TASKFLOW_AWS_SECRET_ID", "").strip()
    if not secret_id:
        return env
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        # The injected environment, not the process's: boto3 falls back to its own chain
        # (profile, instance role) for whatever is missing here.
        client = boto3.client(
            "secretsmanager",
            region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            endpoint_url=env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or env.get("AWS_ENDPOINT_URL")
            or None,
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        )
        raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
        values = json.loads(raw)
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise SettingsError(f"TASKFLOW_AWS_SECRET_ID {secret_id!r}: {exc}") from None
    except ValueError:
        raise SettingsError(f"TASKFLOW_AWS_SECRET_ID {secret_id!r} is not a JSON object") from None
    if not isinstance(values, dict):
        raise SettingsError(f"TASKFLOW_AWS_SECRET_ID {secret_id!r} is not a JSON object")
    merged = {str(k): str(v) for k, v in values.items()}
    merged.update({k: v for k, v in env.items() if v != "" or k not in merged})
    return merged


def _resolve_files(environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    for name in _FILE_SETTINGS:
        file_name = env.get(f"{name}_FILE")
        if not file_name:
            continue
        if env.get(name):
            raise SettingsError(f"set either {name} or {name}_FILE, not both")
        try:
            env[name] = Path(file_name).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from None
    return env


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"{name} must be {bound}, got {value}")
    return value


def _host(env: Mapping[str, str], name: str, default: str) -> str:
    """An IP address to bind to (a name would resolve to several, or to none)."""
    raw = env.get(name, "").strip() or default
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise SettingsError(f"{name} must be an IP address to bind to, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    scheme = urlsplit(raw).scheme
    if scheme not in schemes:
        raise SettingsError(f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if item == "*":
            raise SettingsError("CORS_ORIGINS must list origins explicitly; '*' is not allowed")
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise SettingsError(f"CORS_ORIGINS entry {item!r} is not an origin like https://host[:port]")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(origins)


def _networks(raw: str) -> tuple[str, ...]:
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"TASKFLOW_TRUSTED_PROXIES entry {item!r} is not an IP network") from None
    return tuple(networks)


def _rate_limits(env: Mapping[str, str]) -> RateLimits:
    switch = env.get("TASKFLOW_RATE_LIMITS", "on").strip().lower()
    if switch not in ("on", "off"):
        raise SettingsError(f"TASKFLOW_RATE_LIMITS must be on or off, got {switch!r}")
    defaults = RateLimits()
    values = {}
    for attr, name in (
        ("login_per_account", "TASKFLOW_RATE_LIMIT_LOGIN"),
        ("auth_per_address", "TASKFLOW_RATE_LIMIT_AUTH_ADDRESS"),
        ("api_per_user", "TASKFLOW_RATE_LIMIT_API"),
        ("search_per_user", "TASKFLOW_RATE_LIMIT_SEARCH"),
        ("import_per_user", "TASKFLOW_RATE_LIMIT_IMPORT"),
    ):
        value = env.get(name, getattr(defaults, attr))
        try:
            parse_many(value)
        except ValueError:
            raise SettingsError(f"{name} must look like '10/minute;100/hour', got {value!r}") from None
        values[attr] = value
    return RateLimits(enabled=switch == "on", **values)


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name, default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _limit(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(f"{name} must look like '30/second', got {value!r}") from None
    return value


def _redis_mode(env: Mapping[str, str], url: str | None) -> str:
    mode = _choice(env, "TASKFLOW_REDIS_MODE", ("single", "cluster"), "single")
    if mode != "cluster":
        return mode
    if url is None:
        raise SettingsError("TASKFLOW_REDIS_MODE=cluster needs REDIS_URL (any node of the cluster)")
    parts = urlsplit(url)
    if parts.scheme == "unix":
        raise SettingsError("TASKFLOW_REDIS_MODE=cluster needs a redis:// or rediss:// REDIS_URL, "
                            "not a unix socket")
    if parts.path.strip("/") not in ("", "0"):
        raise SettingsError("TASKFLOW_REDIS_MODE=cluster: a Redis Cluster has only database 0, "
                            f"REDIS_URL names {parts.path.strip('/')!r}")
    return mode


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"TASKFLOW_LOG_LEVEL must be a loguru level name, got {raw!r}")
    return level
