// Subscriber generator for loadtests/bus.py: many boards, each with its own sockets.
//
//   node loadtests/peers/boards.js <config.json>
//
// Config (a file: thousands of sockets don't fit a command line): {sockets: [{url, token, board_id, address}], connect_concurrency, limit_ms}
// Each socket connects straight to its instance (websocket, auth {token}, X-Forwarded-For
// `address`: the instances trust 127.0.0.1 as a proxy, so each socket counts against its
// own connect budget) and joins its board. Protocol (JSON lines on stdout, commands on stdin):
//   1. {"phase":"ready", connected} once every socket has joined;
//   2. on "count": {"phase":"count", received, strays, disconnects}: `task:created` events
//      received on the board each socket joined, events of any other board, disconnects;
//   3. on "quit" (or stdin closing): closes every socket and exits.
"use strict";

const fs = require("node:fs");
const readline = require("node:readline");
const { io } = require("socket.io-client");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const specs = cfg.sockets || [];
const connectConcurrency = Number(cfg.connect_concurrency || 25);
const limitMs = Number(cfg.limit_ms || 600000);
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

setTimeout(() => {
  out({ phase: "error", error: `generator limit of ${limitMs} ms reached` });
  process.exit(3);
}, limitMs).unref();

let received = 0;
let strays = 0;
let disconnects = 0;
const sockets = [];

function connectOne(spec) {
  return new Promise((resolve, reject) => {
    const socket = io(spec.url, {
      transports: ["websocket"],
      auth: { token: spec.token },
      extraHeaders: { "X-Forwarded-For": spec.address },
      reconnection: false,
      forceNew: true,
      timeout: 20000,
    });
    const fail = (why) => {
      socket.close();
      reject(new Error(why));
    };
    socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
    socket.on("task:created", (envelope) => {
      if (envelope && envelope.board_id === spec.board_id) received += 1;
      else strays += 1;
    });
    socket.once("connect", () => {
      socket.timeout(20000).emit("board:join", { board_id: spec.board_id }, (err, ack) => {
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
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const spec = specs[next];
      next += 1;
      sockets.push(await connectOne(spec));
    }
  };
  await Promise.all(Array.from({ length: Math.min(connectConcurrency, specs.length) }, worker));
}

function quit(code) {
  for (const socket of sockets) socket.close();
  process.exit(code);
}

connectAll().then(
  () => {
    out({ phase: "ready", connected: sockets.length });
    const lines = readline.createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      if (line.trim() === "count") out({ phase: "count", received, strays, disconnects });
      else if (line.trim() === "quit") quit(0);
    });
    lines.on("close", () => quit(0));
  },
  (err) => {
    out({ phase: "error", error: String(err && err.message ? err.message : err) });
    quit(2);
  },
);
