"""A standalone webhook receiver: verifies Standard Webhooks signatures and reports.

    python loadtests/webhook_receiver.py --port 9000 --secret whsec_... [--status 200]

Every request is checked with the spec's algorithm (written here, not imported from the
server): HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}" keyed with the base64 after
`whsec_`, compared with each `v1,` signature. Every `--every` seconds, and on Ctrl-C, it prints
requests, verified, bad signatures, duplicate webhook-ids, seqs out of order per board, and
the lag from each event's `at` to its arrival (p50, p95, max). Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import statistics
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Tally:
    def __init__(self, secret: str) -> None:
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.lock = threading.Lock()
        self.requests = self.verified = self.bad = self.duplicates = self.out_of_order = 0
        self.seen: set[str] = set()
        self.last_seq: dict[str, int] = {}
        self.lags: list[float] = []

    def verify(self, msg_id: str, stamp: str, body: bytes, signatures: str) -> bool:
        mac = hmac.new(self.key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        expected = base64.b64encode(mac).decode()
        for signature in signatures.split():
            version, _, value = signature.partition(",")
            if version == "v1" and hmac.compare_digest(value, expected):
                return True
        return False

    def record(self, headers: dict[str, str], body: bytes) -> None:
        arrived = time.time()
        msg_id = headers.get("webhook-id", "")
        ok = self.verify(msg_id, headers.get("webhook-timestamp", ""), body,
                         headers.get("webhook-signature", ""))
        try:
            event: dict[str, Any] = json.loads(body)
        except ValueError:
            event = {}
        with self.lock:
            self.requests += 1
            if not ok:
                self.bad += 1
                return
            self.verified += 1
            if msg_id in self.seen:
                self.duplicates += 1
                return
            self.seen.add(msg_id)
            board, seq = str(event.get("board_id")), int(event.get("seq", 0))
            if seq <= self.last_seq.get(board, 0):
                self.out_of_order += 1
            self.last_seq[board] = max(seq, self.last_seq.get(board, 0))
            if isinstance(event.get("at"), str):
                at = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
                self.lags.append(arrived - at)

    def report(self) -> str:
        with self.lock:
            lags = sorted(self.lags)
        line = (f"requests {self.requests} verified {self.verified} bad-signature {self.bad} "
                f"duplicates {self.duplicates} out-of-order {self.out_of_order}")
        if lags:
            p95 = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
            line += (f" lag p50 {statistics.median(lags) * 1000:.0f} ms"
                     f" p95 {p95 * 1000:.0f} ms max {lags[-1] * 1000:.0f} ms")
        return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the webhook's whsec_... secret")
    parser.add_argument("--status", type=int, default=200, help="the status to answer")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between reports")
    args = parser.parse_args()
    tally = Tally(args.secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            tally.record({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(args.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on http://{args.host}:{args.port}/", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(args.every):
            print(tally.report(), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        print(tally.report(), flush=True)


if __name__ == "__main__":
    main()
