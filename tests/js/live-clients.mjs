// Live-channel clients built on the official socket.io-client, driven over JSON lines.
//
// One process hosts any number of clients, each with its own Manager (forceNew), so each
// has its own engine.io session. Each behaves like a real TaskFlow client: it keeps the
// last seq it applied per board, ignores seq <= lastSeq, buffers early arrivals until the
// gap is filled, and on every (re)connect re-joins its boards with since=lastSeq (rooms
// belong to the connection).
//
// stdin, one JSON object per line (`req` is echoed in the reply):
//   {req, op: "connect", client, url, token, transports?, headers?}
//        -> {req, ok: true, sid, transport} | {req, ok: false, error}   (no retry after a refusal)
//   {req, op: "join", client, board_id}      -> {req, ok: true, ack}   (since = lastSeq, 0 at first)
//   {req, op: "emit", client, event, data}   -> {req, ok: true, ack}
//   {req, op: "disconnect", client}          -> {req, ok: true}
// stdout, besides the replies, one line per thing a client saw ({client, kind, ...}):
//   connect {sid, transport}, upgrade {transport}, disconnect {reason}, connect_error {message},
//   received {env, sid, source: "live"|"ack"}, applied {env}, rejoin {board_id, ack},
//   event {name, args} for every other server event (presence, task:editing, auth:revoked...).
// The process exits when stdin closes.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const ACK_TIMEOUT_MS = 10000;
const clients = new Map();

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function isBoardEvent(name, env) {
  return (
    env !== null &&
    typeof env === "object" &&
    typeof env.seq === "number" &&
    typeof env.board_id === "string" &&
    env.type === name
  );
}

class Board {
  constructor() {
    this.lastSeq = 0;
    this.pending = new Map();
  }
}

class Client {
  constructor(id, { url, token, transports, headers }) {
    this.id = id;
    this.boards = new Map();
    const options = {
      auth: { token },
      transports: transports ?? ["polling", "websocket"],
      forceNew: true, // one engine.io session per client, never a shared Manager
      reconnection: true,
    };
    if (headers) options.extraHeaders = headers;
    this.socket = io(url, options);
    this.firstOutcome = new Promise((resolve) => {
      this.resolveFirst = resolve;
    });
    this.socket.io.on("open", () => {
      const engine = this.socket.io.engine;
      engine.on("upgrade", (transport) => this.note("upgrade", { transport: transport.name }));
    });
    this.socket.on("connect", () => {
      const engine = this.socket.io.engine;
      this.note("connect", { sid: engine.id, transport: engine.transport.name });
      this.resolveFirst({ ok: true, sid: engine.id, transport: engine.transport.name });
      for (const boardId of this.boards.keys()) {
        this.join(boardId).then(
          (ack) => this.note("rejoin", { board_id: boardId, ack: summary(ack) }),
          (error) => this.note("rejoin", { board_id: boardId, error: String(error) }),
        );
      }
    });
    this.socket.on("disconnect", (reason) => this.note("disconnect", { reason }));
    this.socket.on("connect_error", (error) => {
      this.note("connect_error", { message: error.message });
      this.resolveFirst({ ok: false, error: error.message });
    });
    this.socket.onAny((name, ...args) => {
      if (isBoardEvent(name, args[0])) this.offer(args[0], "live");
      else this.note("event", { name, args });
    });
  }

  note(kind, fields) {
    send({ client: this.id, kind, ...fields });
  }

  offer(env, source) {
    this.note("received", { env, sid: this.socket.io.engine?.id ?? null, source });
    const board = this.boards.get(env.board_id);
    if (!board || env.seq <= board.lastSeq) return;
    board.pending.set(env.seq, env);
    while (board.pending.has(board.lastSeq + 1)) {
      const next = board.pending.get(board.lastSeq + 1);
      board.pending.delete(board.lastSeq + 1);
      board.lastSeq += 1;
      this.note("applied", { env: next });
    }
  }

  async join(boardId) {
    if (!this.boards.has(boardId)) this.boards.set(boardId, new Board());
    const board = this.boards.get(boardId);
    const ack = await this.socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck("board:join", { board_id: boardId, since: board.lastSeq });
    if (ack && ack.ok && Array.isArray(ack.events)) {
      for (const env of ack.events) this.offer(env, "ack");
    }
    return ack;
  }
}

function summary(ack) {
  if (!ack || !Array.isArray(ack.events)) return ack;
  return { ...ack, events: ack.events.map((e) => e.seq) };
}

async function handle(command) {
  const { op, client: id } = command;
  if (op === "connect") {
    const client = new Client(id, command);
    clients.set(id, client);
    const outcome = await client.firstOutcome;
    // A refused first connect is final here (the caller asked whether it is allowed).
    if (!outcome.ok) client.socket.disconnect();
    return outcome;
  }
  const client = clients.get(id);
  if (!client) return { ok: false, error: `no client ${id}` };
  if (op === "join") return { ok: true, ack: await client.join(command.board_id) };
  if (op === "emit") {
    const ack = await client.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(command.event, command.data);
    return { ok: true, ack };
  }
  if (op === "disconnect") {
    client.socket.disconnect();
    return { ok: true };
  }
  return { ok: false, error: `unknown op ${op}` };
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  handle(command).then(
    (reply) => send({ req: command.req, ...reply }),
    (error) => send({ req: command.req, ok: false, error: String(error) }),
  );
});
lines.on("close", () => {
  for (const client of clients.values()) client.socket.disconnect();
  process.exit(0);
});
