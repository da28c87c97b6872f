// Starts and stops a real TaskFlow server (`<repo>/.venv/bin/taskflow serve`) for the e2e tests.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { createServer } from "node:net";
import { once } from "node:events";
import path from "node:path";

export const repoRoot = path.resolve(import.meta.dirname, "../../..");
export const taskflowBin = path.join(repoRoot, ".venv", "bin", "taskflow");
export const webDist = path.join(repoRoot, "web", "dist");

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(check, { timeoutMs = 30_000, intervalMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ""}`);
}

/** One server process on a fixed port and data directory; can be stopped and started again. */
export class TaskflowServer {
  constructor({ port, dataDir, logPath, env = {} }) {
    this.env = env;
    this.port = port;
    this.dataDir = dataDir;
    this.logPath = logPath;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.child = null;
  }

  async start({ timeoutMs = 60_000 } = {}) {
    if (!existsSync(taskflowBin)) throw new Error(`${taskflowBin} does not exist`);
    const log = createWriteStream(this.logPath, { flags: "a" });
    const child = spawn(taskflowBin, ["serve", "--host", "127.0.0.1", "--port", String(this.port)], {
      env: { ...process.env, ...this.env, TASKFLOW_DATA_DIR: this.dataDir, TASKFLOW_WEB_DIST: webDist },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so stop() ends it and anything it started
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    const exited = once(child, "exit").then(([code]) => {
      throw new Error(`server exited with ${code} before it was healthy (see ${this.logPath})`);
    });
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      waitFor(
        async () => {
          const res = await fetch(`${this.baseUrl}/api/v1/health`, { signal: AbortSignal.timeout(2000) });
          return res.status === 200;
        },
        { timeoutMs, what: "GET /api/v1/health = 200" },
      ),
    ]);
  }

  /** Ends the server: SIGTERM (graceful) by default, or SIGKILL to simulate a crash. */
  async stop({ timeoutMs = 15_000, signal = "SIGTERM" } = {}) {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    try {
      process.kill(-child.pid, signal);
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }

  /** A REST call with JSON in and out. */
  async api(method, pathname, { token, body } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`${this.baseUrl}/api/v1${pathname}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : undefined;
    if (!res.ok) throw new Error(`${method} ${pathname} -> ${res.status}: ${text}`);
    return data;
  }
}
