// Reference server for loadtests/fanout.py: the room broadcast of TaskFlow's live channel,
// done by Node socket.io 4.8 with the Redis adapter, and nothing else.
//
//   PORT=18500 REDIS_URL=redis://127.0.0.1:6379/0 TOKEN=secret node loadtests/peers/server.js
//
// It speaks the same protocol as TaskFlow where the benchmark touches it, so one generator
// drives both: connect with auth {token}, emit `board:join` {board_id} with an ack, receive
// one `task:created` event {seq, board_id, type, actor_id, at, data} per write. A write is
// `POST /broadcast` {board_id, type, actor_id, data}: it numbers the event per board and
// emits it to the board's room through the adapter (which publishes it on Redis for other
// instances, as TaskFlow's manager does). `GET /health` answers 200 once Redis is connected.
// It listens on 127.0.0.1 only and stops on SIGTERM/SIGINT.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const port = Number(process.env.PORT || 18500);
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379/0";
const token = process.env.TOKEN || "";
const MAX_BODY = 1024 * 1024;

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function main() {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) {
    client.on("error", (err) => console.error(`redis: ${err.message}`));
  }
  await Promise.all([pub.connect(), sub.connect()]);

  const seqs = new Map();
  const httpServer = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/health") {
      send(res, 200, { status: "ok" });
      return;
    }
    if (req.method !== "POST" || req.url !== "/broadcast") {
      send(res, 404, { status: 404, code: "not_found" });
      return;
    }
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      let body;
      try {
        if (size > MAX_BODY) throw new Error("too large");
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        send(res, 422, { status: 422, code: "validation_failed", detail: String(err.message) });
        return;
      }
      const boardId = String(body.board_id || "");
      const seq = (seqs.get(boardId) || 0) + 1;
      seqs.set(boardId, seq);
      const type = String(body.type || "task:created");
      const envelope = {
        seq,
        board_id: boardId,
        type,
        actor_id: String(body.actor_id || ""),
        at: new Date().toISOString(),
        data: body.data ?? {},
      };
      io.to(`board:${boardId}`).emit(type, envelope);
      send(res, 201, envelope.data);
    });
  });

  const io = new Server(httpServer, {
    serveClient: false,
    adapter: createAdapter(pub, sub, { key: "taskflow-fanout-reference" }),
    pingInterval: 25000,
    pingTimeout: 20000,
    maxHttpBufferSize: 65536,
  });
  io.use((socket, next) => {
    const given = socket.handshake.auth && socket.handshake.auth.token;
    if (token && given !== token) next(new Error("unauthorized"));
    else next();
  });
  io.on("connection", (socket) => {
    socket.on("board:join", (payload, ack) => {
      const boardId = payload && typeof payload.board_id === "string" ? payload.board_id : "";
      if (typeof ack !== "function") return;
      if (!boardId) {
        ack({ ok: false, error: { status: 422, code: "validation_failed", title: "board_id required" } });
        return;
      }
      socket.join(`board:${boardId}`);
      ack({ ok: true, seq: seqs.get(boardId) || 0, events: [], presence: [] });
    });
  });

  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  httpServer.listen(port, "127.0.0.1", () => {
    console.log(JSON.stringify({ listening: `http://127.0.0.1:${port}`, pid: process.pid }));
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
