"""Settings: read from an injected environment, validated before anything starts.

The process tests run the real `taskflow serve`: a bad setting must end it with exit code 2
and one line on stderr (no traceback); good settings must give a serving process.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import jwt
import pytest

from taskflow.config import RateLimits, Settings, SettingsError
from tests.support.processes import free_port, run_taskflow, serving

STRONG = secrets.token_urlsafe(48)


def _one_line_failure(result: object, name: str) -> str:
    """Asserts exit code 2 and exactly one stderr line naming `name`; returns that line."""
    code, out, err = result.returncode, result.stdout, result.stderr  # type: ignore[attr-defined]
    assert code == 2, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    assert name in lines[0], lines[0]
    return str(lines[0])


# --- a real process with bad settings ---------------------------------------------------
BAD_ENVIRONMENTS = [
    pytest.param({"TASKFLOW_ENV": "production"}, "JWT_SECRET", id="production-without-secret"),
    pytest.param({"JWT_SECRET": "s" * 31}, "JWT_SECRET", id="secret-31-bytes"),
    pytest.param({"TASKFLOW_ENV": "production", "JWT_SECRET": "short"}, "JWT_SECRET",
                 id="production-short-secret"),
    pytest.param({"JWT_PREVIOUS_SECRET": "short"}, "JWT_PREVIOUS_SECRET", id="short-previous"),
    pytest.param({"REDIS_URL": "http://x"}, "REDIS_URL", id="redis-url-scheme"),
    pytest.param({"TASKFLOW_REDIS_MODE": "sentinel", "REDIS_URL": "redis://127.0.0.1:1/0"},
                 "TASKFLOW_REDIS_MODE", id="redis-mode-unknown"),
    pytest.param({"TASKFLOW_REDIS_MODE": "cluster"}, "TASKFLOW_REDIS_MODE",
                 id="redis-cluster-without-url"),
    pytest.param({"TASKFLOW_REDIS_MODE": "cluster", "REDIS_URL": "redis://127.0.0.1:1/3"},
                 "TASKFLOW_REDIS_MODE", id="redis-cluster-database"),
    pytest.param({"TASKFLOW_RATE_LIMIT_API": "nonsense"}, "TASKFLOW_RATE_LIMIT_API",
                 id="rate-limit-notation"),
    pytest.param({"TASKFLOW_RATE_LIMITS": "maybe"}, "TASKFLOW_RATE_LIMITS", id="rate-limit-switch"),
    pytest.param({"CORS_ORIGINS": "*"}, "CORS_ORIGINS", id="cors-wildcard"),
    pytest.param({"CORS_ORIGINS": "https://ok.example, example.org"}, "CORS_ORIGINS",
                 id="cors-not-an-origin"),
    pytest.param({"TASKFLOW_ACCESS_TOKEN_TTL": "abc"}, "TASKFLOW_ACCESS_TOKEN_TTL", id="ttl-not-int"),
    pytest.param({"TASKFLOW_ACCESS_TOKEN_TTL": "3600"}, "TASKFLOW_ACCESS_TOKEN_TTL",
                 id="ttl-too-long"),
    pytest.param({"TASKFLOW_ENV": "staging"}, "TASKFLOW_ENV", id="unknown-env"),
    pytest.param({"TASKFLOW_TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, "TASKFLOW_TRUSTED_PROXIES",
                 id="trusted-proxy-not-ip"),
    pytest.param({"TASKFLOW_LOG_JSON": "sometimes"}, "TASKFLOW_LOG_JSON", id="bool"),
    pytest.param({"TASKFLOW_LOG_LEVEL": "LOUD"}, "TASKFLOW_LOG_LEVEL", id="log-level"),
    pytest.param({"TASKFLOW_INSTANCE_ID": "Web-1"}, "TASKFLOW_INSTANCE_ID", id="instance-id"),
    pytest.param({"TASKFLOW_METRICS_TOKEN": "t" * 15}, "TASKFLOW_METRICS_TOKEN",
                 id="metrics-token-short"),
    pytest.param({"TASKFLOW_METRICS_PORT": "0"}, "TASKFLOW_METRICS_PORT", id="metrics-port-0"),
    pytest.param({"TASKFLOW_METRICS_PORT": "70000"}, "TASKFLOW_METRICS_PORT",
                 id="metrics-port-range"),
    pytest.param({"TASKFLOW_METRICS_PORT": "9100", "TASKFLOW_METRICS_HOST": "localhost"},
                 "TASKFLOW_METRICS_HOST", id="metrics-host-not-ip"),
    pytest.param({"TASKFLOW_WEBHOOK_ALLOW_PRIVATE": "yes please"},
                 "TASKFLOW_WEBHOOK_ALLOW_PRIVATE", id="webhook-allow-private"),
    pytest.param({"TASKFLOW_WEBHOOK_RETRY_WINDOW_SECONDS": "5"},
                 "TASKFLOW_WEBHOOK_RETRY_WINDOW_SECONDS", id="webhook-retry-window"),
    pytest.param({"TASKFLOW_WEBHOOK_LEASE_SECONDS": "5"}, "TASKFLOW_WEBHOOK_LEASE_SECONDS",
                 id="webhook-lease-shorter-than-a-send"),
    pytest.param({"TASKFLOW_WEBHOOK_POLL_MS": "10"}, "TASKFLOW_WEBHOOK_POLL_MS",
                 id="webhook-poll"),
    pytest.param({"JWT_SECRET_FILE": "/nonexistent/taskflow/secret"}, "JWT_SECRET_FILE",
                 id="secret-file-missing"),
    pytest.param({"JWT_SECRET": STRONG, "JWT_SECRET_FILE": "/etc/hostname"}, "JWT_SECRET",
                 id="secret-and-secret-file"),
]


@pytest.mark.parametrize(("env", "name"), BAD_ENVIRONMENTS)
def test_bad_setting_exits_2_with_one_line(tmp_path: Path, env: dict[str, str], name: str) -> None:
    data = tmp_path / "data"
    result = run_taskflow(["serve", "--port", str(free_port())], {"TASKFLOW_DATA_DIR": str(data), **env},
                          cwd=tmp_path)
    _one_line_failure(result, name)
    assert not data.exists(), "a bad setting must be refused before anything is created"


def test_unreachable_mongodb_is_a_bad_setting(tmp_path: Path) -> None:
    """The store is chosen from the settings; one that can't be served is a start-up error,
    not a traceback from inside the server's lifespan."""
    result = run_taskflow(["serve", "--port", str(free_port())],
                          {"TASKFLOW_DATA_DIR": str(tmp_path / "data"),
                           "MONGODB_URI": "mongodb://127.0.0.1:1/taskflow",
                           "MONGODB_SERVER_SELECTION_TIMEOUT_MS": "300"}, cwd=tmp_path)
    _one_line_failure(result, "MONGODB_URI")


def test_data_dir_that_is_a_file_is_a_bad_setting(tmp_path: Path) -> None:
    occupied = tmp_path / "not-a-dir"
    occupied.write_text("")
    result = run_taskflow(["serve", "--port", str(free_port())], {"TASKFLOW_DATA_DIR": str(occupied)},
                          cwd=tmp_path)
    _one_line_failure(result, "TASKFLOW_DATA_DIR")


def test_short_generated_secret_in_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / ".jwt-secret").write_text("tooshort\n")
    result = run_taskflow(["serve", "--port", str(free_port())], {"TASKFLOW_DATA_DIR": str(data)},
                          cwd=tmp_path)
    _one_line_failure(result, ".jwt-secret")


def test_db_init_with_bad_setting_exits_2(tmp_path: Path) -> None:
    result = run_taskflow(["db", "init"], {"TASKFLOW_DATA_DIR": str(tmp_path / "d"),
                                           "REDIS_URL": "ftp://x"}, cwd=tmp_path)
    _one_line_failure(result, "REDIS_URL")


# --- a real process with good settings --------------------------------------------------
def _register(server: object, email: str) -> dict[str, object]:
    response = server.post("/api/v1/auth/register",  # type: ignore[attr-defined]
                           json={"email": email, "password": "correct horse battery",
                                 "name": "Ada"})
    assert response.status == 201, response.body
    body: dict[str, object] = response.json()
    return body


def test_production_with_a_strong_secret_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"TASKFLOW_ENV": "production", "JWT_SECRET": STRONG, "TASKFLOW_DATA_DIR": str(data)}
    with serving(env, tmp_path) as server:
        health = server.get("/api/v1/health")
        assert health.status == 200
        assert health.header("Strict-Transport-Security") is not None
        session = _register(server, "prod@example.com")
        claims = jwt.decode(str(session["access_token"]), STRONG, algorithms=["HS256"],
                            audience="taskflow-api")
        assert claims["sub"] == session["user"]["id"]  # type: ignore[index]
        log = server.log()
    assert not (data / ".jwt-secret").exists(), "a configured secret must not be replaced"
    assert "Traceback" not in log


def test_jwt_secret_file_is_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "jwt_secret"
    secret_file.write_text(STRONG + "\n")  # trailing newline as `echo` or an editor leaves it
    data = tmp_path / "data"
    env = {"TASKFLOW_ENV": "production", "JWT_SECRET_FILE": str(secret_file),
           "TASKFLOW_DATA_DIR": str(data)}
    with serving(env, tmp_path) as server:
        session = _register(server, "file@example.com")
        token = str(session["access_token"])
        claims = jwt.decode(token, STRONG, algorithms=["HS256"], audience="taskflow-api")
        assert claims["sub"] == session["user"]["id"]  # type: ignore[index]
        me = server.get("/api/v1/users/me", token=token)
        assert me.status == 200
    assert not (data / ".jwt-secret").exists()


def test_rate_limits_off_is_announced_and_honoured(tmp_path: Path) -> None:
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": STRONG,
           "TASKFLOW_RATE_LIMITS": "off", "TASKFLOW_RATE_LIMIT_LOGIN": "1/minute",
           "TASKFLOW_RATE_LIMIT_AUTH_ADDRESS": "1/minute"}
    with serving(env, tmp_path) as server:
        statuses = [server.post("/api/v1/auth/login",
                                json={"email": "nobody@example.com", "password": "wrong-password"}
                                ).status for _ in range(3)]
        log = server.log()
    assert statuses == [401, 401, 401]
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert any(re.search(r"rate limits?.*\boff\b", line, re.IGNORECASE) for line in warnings), log


def test_rate_limits_on_is_not_announced_as_off(tmp_path: Path) -> None:
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": STRONG,
           "TASKFLOW_RATE_LIMIT_LOGIN": "2/minute"}
    with serving(env, tmp_path) as server:
        statuses = [server.post("/api/v1/auth/login",
                                json={"email": "nobody@example.com", "password": "wrong-password"}
                                ).status for _ in range(3)]
        log = server.log()
    assert statuses == [401, 401, 429]
    assert not re.search(r"rate limits?.*\boff\b", log, re.IGNORECASE), log


# --- Settings.from_environ, a pure function of the mapping it is given -------------------
def test_defaults() -> None:
    s = Settings.from_environ({})
    assert s.env == "development"
    assert not s.production
    assert s.data_dir == Path("data")
    assert s.jwt_secret == ""
    assert s.access_token_ttl == 900
    assert s.refresh_token_ttl == 30 * 24 * 3600
    assert s.redis_url is None
    assert s.redis_mode == "single"
    assert s.mongodb_uri is None
    assert s.cors_origins == ()
    assert s.rate_limits == RateLimits()
    assert s.rate_limits.enabled
    assert s.trusted_proxies == ("127.0.0.1/32", "::1/128")
    assert s.max_body_bytes == 1024 * 1024
    assert s.max_header_bytes == 16 * 1024
    assert s.log_json is False
    assert s.log_level == "INFO"
    assert s.web_dist is None
    assert s.stats_ttl == 60
    assert (s.metrics_port, s.metrics_host, s.metrics_token) == (None, "127.0.0.1", None)
    assert re.fullmatch(r"[a-z0-9]{1,16}", s.instance_id)


def test_every_setting_is_read() -> None:
    s = Settings.from_environ({
        "TASKFLOW_ENV": "production",
        "TASKFLOW_DATA_DIR": "/srv/taskflow",
        "JWT_SECRET": STRONG,
        "JWT_PREVIOUS_SECRET": STRONG[::-1],
        "TASKFLOW_ACCESS_TOKEN_TTL": "300",
        "TASKFLOW_REFRESH_TOKEN_TTL": "3600",
        "REDIS_URL": " rediss://cache.internal:6380/0 ",
        "TASKFLOW_REDIS_MODE": " Cluster ",
        "MONGODB_URI": "mongodb+srv://db.example/taskflow",
        "MONGODB_MAX_POOL_SIZE": "20",
        "CORS_ORIGINS": "https://app.example.com/, http://localhost:5173",
        "TASKFLOW_RATE_LIMITS": "OFF",
        "TASKFLOW_RATE_LIMIT_LOGIN": "5/minute",
        "TASKFLOW_RATE_LIMIT_AUTH_ADDRESS": "7/minute;70/hour",
        "TASKFLOW_RATE_LIMIT_API": "100/second",
        "TASKFLOW_TRUSTED_PROXIES": "10.1.2.3/8, ::1",
        "TASKFLOW_MAX_BODY_BYTES": "2048",
        "TASKFLOW_MAX_HEADER_BYTES": "8192",
        "TASKFLOW_LOG_JSON": "yes",
        "TASKFLOW_LOG_LEVEL": "debug",
        "TASKFLOW_INSTANCE_ID": "web2",
        "TASKFLOW_WEB_DIST": "/srv/web",
        "TASKFLOW_STATS_TTL": "5",
        "TASKFLOW_EVENT_RETENTION_DAYS": "90",
        "TASKFLOW_METRICS_PORT": "9100",
        "TASKFLOW_METRICS_HOST": "10.0.0.5",
        "TASKFLOW_METRICS_TOKEN": "m" * 16,
    })
    assert s.production
    assert s.data_dir == Path("/srv/taskflow")
    assert s.jwt_secret == STRONG
    assert s.jwt_previous_secret == STRONG[::-1]
    assert (s.access_token_ttl, s.refresh_token_ttl) == (300, 3600)
    assert s.redis_url == "rediss://cache.internal:6380/0"
    assert s.redis_mode == "cluster"
    assert s.mongodb_uri == "mongodb+srv://db.example/taskflow"
    assert s.mongodb_max_pool_size == 20
    assert s.cors_origins == ("https://app.example.com", "http://localhost:5173")
    assert s.rate_limits == RateLimits(enabled=False, login_per_account="5/minute",
                                       auth_per_address="7/minute;70/hour",
                                       api_per_user="100/second")
    assert s.trusted_proxies == ("10.0.0.0/8", "::1/128")
    assert s.max_body_bytes == 2048
    assert s.max_header_bytes == 8192
    assert s.log_json is True
    assert s.log_level == "DEBUG"
    assert s.instance_id == "web2"
    assert s.web_dist == Path("/srv/web")
    assert s.stats_ttl == 5
    assert s.event_retention_days == 90
    assert (s.metrics_port, s.metrics_host, s.metrics_token) == (9100, "10.0.0.5", "m" * 16)


def test_reading_does_not_touch_the_environ_mapping() -> None:
    environ = {"JWT_SECRET_FILE": "/nonexistent/secret"}
    with pytest.raises(SettingsError):
        Settings.from_environ(environ)
    assert environ == {"JWT_SECRET_FILE": "/nonexistent/secret"}


def test_secret_files(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text(f"  {STRONG}\n")
    (tmp_path / "redis").write_text("redis://r:6379/0\n")
    s = Settings.from_environ({"JWT_SECRET_FILE": str(tmp_path / "jwt"),
                               "REDIS_URL_FILE": str(tmp_path / "redis"),
                               "TASKFLOW_ENV": "production"})
    assert s.jwt_secret == STRONG
    assert s.redis_url == "redis://r:6379/0"


def test_an_empty_setting_is_the_default() -> None:
    s = Settings.from_environ({"JWT_SECRET": "", "REDIS_URL": "", "TASKFLOW_ACCESS_TOKEN_TTL": "",
                               "TASKFLOW_LOG_JSON": "", "CORS_ORIGINS": " , "})
    assert (s.jwt_secret, s.redis_url, s.access_token_ttl, s.log_json, s.cors_origins) == (
        "", None, 900, False, ())


def test_secret_length_counts_bytes_not_characters() -> None:
    assert Settings.from_environ({"JWT_SECRET": "é" * 16}).jwt_secret == "é" * 16  # 32 bytes
    with pytest.raises(SettingsError):
        Settings.from_environ({"JWT_SECRET": "é" * 15 + "e"})  # 31 bytes


@pytest.mark.parametrize(("name", "value"), [
    ("TASKFLOW_ACCESS_TOKEN_TTL", "0"),
    ("TASKFLOW_ACCESS_TOKEN_TTL", "901"),
    ("TASKFLOW_ACCESS_TOKEN_TTL", "1.5"),
    ("TASKFLOW_REFRESH_TOKEN_TTL", "59"),
    ("TASKFLOW_MAX_BODY_BYTES", "1023"),
    ("TASKFLOW_MAX_HEADER_BYTES", "1023"),
    ("TASKFLOW_MAX_HEADER_BYTES", "1048577"),
    ("TASKFLOW_MAX_HEADER_BYTES", "16k"),
    ("TASKFLOW_STATS_TTL", "0"),
    ("TASKFLOW_STATS_TTL", "61"),
    ("TASKFLOW_EVENT_RETENTION_DAYS", "0"),
    ("TASKFLOW_EVENT_RETENTION_DAYS", "1y"),
    ("MONGODB_MAX_POOL_SIZE", "0"),
    ("MONGODB_URI", "postgres://db/x"),
    ("REDIS_URL", "127.0.0.1:6379"),
    ("CORS_ORIGINS", "https://app.example.com/path"),
    ("CORS_ORIGINS", "ftp://files.example.com"),
    ("TASKFLOW_RATE_LIMIT_LOGIN", "10 per fortnight"),
    ("TASKFLOW_RATE_LIMIT_AUTH_ADDRESS", ""),
    ("TASKFLOW_INSTANCE_ID", "x" * 17),
    ("TASKFLOW_INSTANCE_ID", ""),
    ("TASKFLOW_REDIS_MODE", "cluster"),  # without REDIS_URL
    ("TASKFLOW_REDIS_MODE", "replicated"),
])
def test_invalid_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({name: value})
    message = str(caught.value)
    assert "\n" not in message
    assert name in message


@pytest.mark.parametrize("url", ["redis://node:7000", "redis://node:7000/", "redis://node:7000/0",
                                 "rediss://:pw@node:7000/0"])
def test_cluster_mode_takes_a_node_url_of_database_0(url: str) -> None:
    s = Settings.from_environ({"REDIS_URL": url, "TASKFLOW_REDIS_MODE": "cluster"})
    assert (s.redis_url, s.redis_mode) == (url, "cluster")


@pytest.mark.parametrize("url", ["redis://node:7000/1", "unix:///run/redis.sock"])
def test_cluster_mode_refuses_what_a_cluster_cannot_be(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({"REDIS_URL": url, "TASKFLOW_REDIS_MODE": "cluster"})
    assert "TASKFLOW_REDIS_MODE" in str(caught.value) and "\n" not in str(caught.value)
    # The same URL is fine for a single server.
    assert Settings.from_environ({"REDIS_URL": url}).redis_mode == "single"


def test_generated_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_environ({"TASKFLOW_DATA_DIR": str(tmp_path / "data")})
    first = settings.with_jwt_secret()
    second = Settings.from_environ({"TASKFLOW_DATA_DIR": str(tmp_path / "data")}).with_jwt_secret()
    assert len(first.jwt_secret.encode()) >= 32
    assert first.jwt_secret == second.jwt_secret
    secret_file = tmp_path / "data" / ".jwt-secret"
    assert secret_file.read_text().strip() == first.jwt_secret
    assert secret_file.stat().st_mode & 0o077 == 0, "the secret must be readable by its owner only"


def test_configured_secret_is_not_replaced(tmp_path: Path) -> None:
    settings = Settings.from_environ({"TASKFLOW_DATA_DIR": str(tmp_path), "JWT_SECRET": STRONG})
    assert settings.with_jwt_secret().jwt_secret == STRONG
    assert not (tmp_path / ".jwt-secret").exists()
