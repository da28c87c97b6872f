// Subscriber generator for loadtests/fanout.py (one Node process drives every subscriber).
//
//   node loadtests/peers/generator.js '<json config>'
//
// Config: {url, token, board_id, subscribers, writes, target: "taskflow" | "node",
//          connect_concurrency, write_concurrency, idle_ms, limit_ms}
// Protocol (JSON lines on stdout, commands on stdin):
//   1. opens `subscribers` websocket connections to `url` (socket.io, auth {token}), each
//      joined to `board_id` with `board:join` and its ack, then prints {"phase":"ready", ...}
//   2. on the line "go" it sends `writes` writes, `write_concurrency` at a time (each lane
//      waits for its previous HTTP answer; 1: one after the other): TaskFlow: POST /api/v1/tasks; reference: POST /broadcast with
//      a task of the same shape. Every `task:created` received is timed on arrival.
//   3. when every subscriber has had every write, or nothing arrived for `idle_ms` after the
//      last write, or `limit_ms` passed, it prints {"phase":"done", ...} and exits.
// Times are performance.now() milliseconds of this process: one clock for sends and receipts.
"use strict";

const http = require("node:http");
const readline = require("node:readline");
const { io } = require("socket.io-client");

const cfg = JSON.parse(process.argv[2] || "{}");
const subscribers = Number(cfg.subscribers || 500);
const writes = Number(cfg.writes || 200);
const connectConcurrency = Number(cfg.connect_concurrency || 25);
const writeConcurrency = Number(cfg.write_concurrency || 1);
const idleMs = Number(cfg.idle_ms || 5000);
const limitMs = Number(cfg.limit_ms || 120000);
const base = new URL(cfg.url);
const now = () => performance.now();
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const hardStop = setTimeout(() => {
  out({ phase: "error", error: `generator limit of ${limitMs} ms reached` });
  process.exit(3);
}, limitMs + 60000);
hardStop.unref();

const sent = new Array(writes).fill(null);
const acked = new Array(writes).fill(null);
const first = new Array(writes).fill(null);
const last = new Array(writes).fill(null);
const count = new Array(writes).fill(0);
let received = 0;
let strays = 0;
let disconnects = 0;
let lastReceipt = 0;
let onProgress = () => {};

function receipt(envelope) {
  const t = now();
  const title = envelope && envelope.data && envelope.data.title;
  const i = typeof title === "string" && title.startsWith("fanout ") ? Number(title.slice(7)) : -1;
  if (!(i >= 0 && i < writes) || sent[i] === null) {
    strays += 1;
    return;
  }
  if (first[i] === null) first[i] = t;
  last[i] = t;
  count[i] += 1;
  received += 1;
  lastReceipt = t;
  onProgress();
}

function connectOne() {
  return new Promise((resolve, reject) => {
    const socket = io(cfg.url, {
      transports: ["websocket"],
      auth: { token: cfg.token },
      reconnection: false,
      forceNew: true,
      timeout: 20000,
    });
    const fail = (why) => {
      socket.close();
      reject(new Error(why));
    };
    socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
    socket.on("task:created", receipt);
    socket.once("connect", () => {
      socket.timeout(20000).emit("board:join", { board_id: cfg.board_id }, (err, ack) => {
        if (err) fail(`board:join: ${err.message}`);
        else if (!ack || !ack.ok) fail(`board:join refused: ${JSON.stringify(ack)}`);
        else {
          socket.on("disconnect", () => {
            disconnects += 1;
          });
          resolve(socket);
        }
      });
    });
  });
}

async function connectAll() {
  const sockets = [];
  let next = 0;
  const worker = async () => {
    while (next < subscribers) {
      next += 1;
      sockets.push(await connectOne());
    }
  };
  await Promise.all(Array.from({ length: Math.min(connectConcurrency, subscribers) }, worker));
  return sockets;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: writeConcurrency });

function taskLike(i) {
  // The shape and size of a TaskFlow task view, for the reference server's payload.
  const stamp = new Date().toISOString();
  return {
    id: `${(0x100000 + i).toString(16)}0123456789abcdef01`.slice(0, 24),
    board_id: cfg.board_id,
    title: `fanout ${i}`,
    description: "Fan-out benchmark write: one task created, delivered to every subscriber.",
    status: "todo",
    priority: "medium",
    due_date: null,
    assignee_id: null,
    tags: [],
    position: 1024 * (i + 1),
    created_by: "0123456789abcdef01234567",
    created_at: stamp,
    updated_at: stamp,
    completed_at: null,
    version: 1,
  };
}

function post(i) {
  let path;
  let body;
  const headers = { "content-type": "application/json" };
  if (cfg.target === "taskflow") {
    path = "/api/v1/tasks";
    headers.authorization = `Bearer ${cfg.token}`;
    body = {
      board_id: cfg.board_id,
      title: `fanout ${i}`,
      description: "Fan-out benchmark write: one task created, delivered to every subscriber.",
    };
  } else {
    path = "/broadcast";
    body = { board_id: cfg.board_id, type: "task:created", actor_id: "0123456789abcdef01234567", data: taskLike(i) };
  }
  const text = JSON.stringify(body);
  headers["content-length"] = Buffer.byteLength(text);
  return new Promise((resolve) => {
    const req = http.request(
      { host: base.hostname, port: base.port, path, method: "POST", headers, agent, timeout: 30000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve(`error: ${err.message}`));
    req.end(text);
  });
}

async function fire() {
  const expected = writes * subscribers;
  const errors = [];
  const started = now();
  let next = 0;
  const lane = async () => {
    while (next < writes) {
      const i = next;
      next += 1;
      sent[i] = now();
      const status = await post(i);
      acked[i] = now();
      if (status !== 201 && errors.length < 10) errors.push({ write: i, status });
    }
  };
  await Promise.all(Array.from({ length: Math.min(writeConcurrency, writes) }, lane));
  const allSent = now();
  await new Promise((resolve) => {
    const deadline = started + limitMs;
    const check = () => {
      const t = now();
      if (received >= expected || t - Math.max(lastReceipt, allSent) > idleMs || t > deadline) {
        onProgress = () => {};
        clearInterval(timer);
        resolve();
      }
    };
    onProgress = () => {
      if (received >= expected) check();
    };
    const timer = setInterval(check, 50);
    check();
  });
  return { expected, errors, allSent };
}

async function main() {
  const t0 = now();
  let sockets;
  try {
    sockets = await connectAll();
  } catch (err) {
    out({ phase: "error", error: String(err.message) });
    process.exit(2);
  }
  out({ phase: "ready", connected: sockets.length, connect_ms: now() - t0 });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "go") break;
    if (line.trim() === "quit") process.exit(0);
  }
  const cpuBefore = process.cpuUsage();
  const { expected, errors, allSent } = await fire();
  const cpu = process.cpuUsage(cpuBefore);
  out({
    phase: "done",
    subscribers: sockets.length,
    writes,
    expected,
    received,
    strays,
    disconnects,
    write_errors: errors,
    all_sent: allSent,
    sent,
    acked,
    first,
    last,
    count,
    generator_cpu_s: (cpu.user + cpu.system) / 1e6,
  });
  for (const socket of sockets) socket.close();
  agent.destroy();
  process.exit(0);
}

main();
