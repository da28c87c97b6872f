"""Logs (loguru, with the request id) and Prometheus metrics, one registry per app."""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import sys
import threading
import time
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TextIO

from loguru import logger
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


def _asyncio_tasks() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # scraped with no loop running (a test of the registry alone)
        return 0


class LogQuota:
    """At most `lines` log lines per `window` seconds for one kind of client-caused event
    (a flood of them must not flood the log); the lines left out are counted, and the next
    line that passes says how many."""

    def __init__(self, lines: int = 10, window: float = 60.0) -> None:
        self.lines = lines
        self.window = window
        self._started = -window
        self._used = 0
        self.left_out = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._started >= self.window:
            self._started, self._used = now, 0
        if self._used >= self.lines:
            self.left_out += 1
            return
        self._used += 1
        if self.left_out:
            message += f" (and {self.left_out} more like it not logged)"
            self.left_out = 0
        logger.opt(depth=1).warning(message, *args)


def _add_request_id(record: Any) -> None:
    record["extra"].setdefault("request_id", request_id_var.get())


class _InterceptHandler(logging.Handler):
    """Sends the stdlib logging of libraries (hypercorn, engineio) through loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


class _NoConnectionLines(logging.Filter):
    """Drops the line Uvicorn (and websockets under it) logs for every websocket opened or
    closed: per-connection access logging, off like the HTTP access log (access_log=False).
    A reconnect storm of 20,000 sockets would otherwise log 40,000 lines, at a tenth of a
    connect's CPU. The live gauges and counters in /metrics count connections instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        msg = record.msg
        return not (isinstance(msg, str) and
                    (msg.startswith('%s - "WebSocket ') or msg in _CONNECTION_LINES))


_CONNECTION_LINES = frozenset({"connection open", "connection closed"})


class _PlainAccessLines:
    """Access lines written the way the stdout sink below would write them, without loguru.

    Through loguru an access line cost ~30 microseconds (a record, a frame lookup, two
    formattings, a write), a tenth of a small request. Used only when the log is plain text
    on stdout alone; the lines of one turn of the event loop go to the stdout writer in one
    hand-over, in that same turn, so every request is still logged, in order."""

    def __init__(self, stream: BackgroundWriter) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._second = -1
        self._prefix = ""
        self._offset = ""

    def write(self, request_id: str, message: str) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            stamp = datetime.fromtimestamp(second).astimezone()
            self._second, self._prefix = second, stamp.strftime("%Y-%m-%dT%H:%M:%S")
            self._offset = stamp.strftime("%z")
            self._offset = f"{self._offset[:3]}:{self._offset[3:]}"
        millis = int((now - second) * 1000)
        self._lines.append(f"{self._prefix}.{millis:03d}{self._offset} INFO    [{request_id}] "
                           f"{message}\n")
        if len(self._lines) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: write at once
                self.flush()

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        self._stream.write("".join(lines))
        self._stream.flush()


_access_lines: _PlainAccessLines | None = None


class BackgroundWriter:
    """Writes to a stream from a thread of its own: the event loop hands text over and never
    waits for the stream.

    A stdout pipe that stops being read (a stuck log collector, a paused `docker logs`
    reader) would otherwise block the first write that finds it full, on the event loop,
    and freeze every request and socket of the process. Here the loop only appends to a
    bounded queue; when the stream has fallen `max_pending` writes behind, further text is
    dropped and counted, and the next write that goes through says how much was lost
    (`taskflow_log_lines_dropped_total` counts it too).
    """

    def __init__(self, stream: TextIO, *, max_pending: int = 10_000) -> None:
        self._stream = stream
        self._pending: queue.Queue[str] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self.dropped = 0
        self._reported = 0
        threading.Thread(target=self._run, name="taskflow-log-writer", daemon=True).start()

    def write(self, text: str) -> None:
        try:
            self._pending.put_nowait(text)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def flush(self) -> None:
        """Nothing to do on the caller's side: the writer thread flushes after each batch."""

    def drain(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for what is queued to be written (at exit)."""
        deadline = time.monotonic() + timeout
        while self._pending.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)  # a bounded wait at process exit, off the event loop
        return not self._pending.unfinished_tasks

    def _run(self) -> None:
        while True:
            batch = [self._pending.get()]
            while len(batch) < 1000:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            with self._lock:
                lost, self._reported = self.dropped - self._reported, self.dropped
            if lost:
                batch.insert(0, f"{datetime.now().astimezone().isoformat(timespec='milliseconds')}"
                                f" WARNING [-] {lost} log line(s) dropped: the log output did not "
                                "keep up (its reader stalled?)\n")
            try:
                self._stream.write("".join(batch))
                self._stream.flush()
            except (OSError, ValueError):  # closed or broken: nothing left to tell
                pass
            finally:
                for _ in range(len(batch) - (1 if lost else 0)):
                    self._pending.task_done()


_stdout: BackgroundWriter | None = None


def _stdout_writer() -> BackgroundWriter:
    global _stdout
    if _stdout is None:
        _stdout = BackgroundWriter(sys.stdout)
        atexit.register(_stdout.drain, 2.0)
    return _stdout


class _DroppedLines:
    """`taskflow_log_lines_dropped_total`: lines the stdout writer had to drop."""

    def collect(self) -> Any:
        family = CounterMetricFamily("taskflow_log_lines_dropped",
                                     "Log lines dropped because stdout did not keep up")
        family.add_metric([], float(_stdout.dropped if _stdout else 0))
        yield family

    def describe(self) -> Any:
        return []


def log_access(request_id: str, message: str) -> None:
    """One request's access line (INFO)."""
    if _access_lines is not None:
        _access_lines.write(request_id, message)
    else:
        logger.info(message)


def configure_logging(*, json_lines: bool, level: str, log_dir: str | None = None) -> None:
    """Logs to stdout (JSON lines when asked), optionally also error.log / combined.log."""
    global _access_lines
    logger.remove()
    logger.configure(patcher=_add_request_id)
    fmt = "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} {level: <7} [{extra[request_id]}] {message}"
    # Nothing here writes on the event loop: stdout through BackgroundWriter, the files
    # through loguru's own queue (enqueue=True: a thread writes them).
    stdout = _stdout_writer()
    logger.add(stdout.write, level=level, serialize=json_lines, format=fmt, enqueue=False,
               diagnose=False, colorize=False)
    if log_dir:
        logger.add(f"{log_dir}/error.log", level="ERROR", serialize=True, rotation="50 MB",
                   diagnose=False, enqueue=True)
        logger.add(f"{log_dir}/combined.log", level=level, serialize=True, rotation="100 MB",
                   diagnose=False, enqueue=True)
    plain_info = not json_lines and not log_dir and logger.level(level).no <= logger.level("INFO").no
    _access_lines = _PlainAccessLines(stdout) if plain_info else None
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO, force=True)
    quiet = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _NoConnectionLines) for f in quiet.filters):
        quiet.addFilter(_NoConnectionLines())


class Metrics:
    """The app's Prometheus collectors, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started = time.time()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(_DroppedLines())
        self.requests = Counter(
            "taskflow_http_requests_total", "HTTP requests by route template and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "taskflow_http_request_duration_seconds", "HTTP request latency by route template",
            ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        uptime = Gauge("taskflow_uptime_seconds", "Seconds since start", registry=self.registry)
        uptime.set_function(lambda: time.time() - self.started)
        tasks = Gauge("taskflow_asyncio_tasks", "asyncio tasks alive on the event loop "
                      "(steady under a steady load; loadtests/soak.py watches it)",
                      registry=self.registry)
        tasks.set_function(_asyncio_tasks)
        self.live_connections = Gauge("taskflow_live_connections",
                                      "Socket.IO connections on this instance",
                                      registry=self.registry)
        self.live_joins = Counter("taskflow_live_joins_total", "board:join commands served",
                                  registry=self.registry)
        self.live_events = Counter("taskflow_live_events_published_total",
                                   "Board events published by this instance",
                                   registry=self.registry)
        self.live_slow_consumers = Counter("taskflow_live_slow_consumers_total",
                                           "Sockets closed for not reading fast enough",
                                           registry=self.registry)
        self.live_streams = Gauge("taskflow_live_streams",
                                  "Board streams on this instance (boards with joined sockets)",
                                  registry=self.registry)
        self.live_sockets = Gauge("taskflow_live_sockets",
                                  "Engine.IO sessions open on this instance (connected or not)",
                                  registry=self.registry)
        self.live_bus_messages = Counter(
            "taskflow_live_bus_messages_total",
            "Board messages (events, presence, editing) this instance received from Redis",
            registry=self.registry)
        self.live_malformed = Counter(
            "taskflow_live_malformed_packets_total",
            "Packets from clients that did not decode (each sender was disconnected)",
            registry=self.registry)
        self.live_bus_subscriptions = Gauge(
            "taskflow_live_bus_subscriptions", "Board channels this instance subscribes to now",
            registry=self.registry)
        self.live_delivery = Histogram(
            "taskflow_live_delivery_seconds",
            "From a board event's commit to its hand-over to this instance's sockets",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.store_latency = Histogram(
            "taskflow_store_seconds", "Store calls by operation", ["operation"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.webhook_deliveries = Counter(
            "taskflow_webhook_deliveries_total", "Webhook delivery attempts by outcome",
            ["outcome"], registry=self.registry)
        self.webhook_attempt = Histogram(
            "taskflow_webhook_attempt_seconds", "Duration of one webhook delivery attempt",
            registry=self.registry, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.webhook_lag = Histogram(
            "taskflow_webhook_lag_seconds",
            "From a board event's commit to its successful delivery to a webhook",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0))
        self.cache_requests = Counter("taskflow_cache_requests_total",
                                      "Cache lookups by result (hit or miss)", ["result"],
                                      registry=self.registry)
