import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiClient, type TokenSource } from "./client";
import { ApiError } from "./errors";

const tokens: TokenSource = {
  accessToken: async () => "access-1",
  refreshAfterRejection: async () => null,
};

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const type = status >= 400 ? "application/problem+json" : "application/json";
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": type, ...headers } });
}

/** The browser's fetch, answering from a script; records what was sent. */
function fetchScript(...answers: (Response | Error)[]) {
  const sent: { url: string; init: RequestInit }[] = [];
  const fn = vi.fn(async (url: string, init: RequestInit) => {
    sent.push({ url, init });
    const next = answers.shift();
    if (!next) throw new Error("no more answers scripted");
    if (next instanceof Error) throw next;
    return next;
  });
  vi.stubGlobal("fetch", fn);
  return sent;
}

const keyOf = (init: RequestInit) => (init.headers as Record<string, string>)["Idempotency-Key"];

// networkError() logs the browser's own wording for the console; not wanted in test output.
beforeEach(() => { vi.spyOn(console, "debug").mockImplementation(() => {}); });
afterEach(() => { vi.unstubAllGlobals(); vi.restoreAllMocks(); });

describe("ApiClient writes and lost answers", () => {
  it("re-sends a POST whose answer was lost with the same Idempotency-Key", async () => {
    const sent = fetchScript(new TypeError("Failed to fetch"), json(201, { id: "t1" }, { "Idempotent-Replayed": "true" }));
    const client = new ApiClient(tokens, "");
    await expect(client.post("/tasks", { title: "x" })).resolves.toEqual({ id: "t1" });
    expect(sent).toHaveLength(2);
    const [first, second] = sent.map((s) => keyOf(s.init));
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(second).toBe(first);
    expect(sent[1]!.init.body).toBe(sent[0]!.init.body);
  });

  it("waits out a 409 idempotency_key_in_use and asks again with the same key", async () => {
    const sent = fetchScript(
      json(409, { code: "idempotency_key_in_use", status: 409 }, { "Retry-After": "1" }),
      json(201, { id: "t1" }),
    );
    await expect(new ApiClient(tokens, "").post("/tasks", { title: "x" })).resolves.toEqual({ id: "t1" });
    expect(sent.map((s) => keyOf(s.init))).toEqual([keyOf(sent[0]!.init), keyOf(sent[0]!.init)]);
  });

  it("gives each write its own key, and gives up after the last retry with the network error", async () => {
    const sent = fetchScript(json(201, { id: "a" }), json(201, { id: "b" }));
    const client = new ApiClient(tokens, "");
    await client.post("/tasks", { title: "a" });
    await client.post("/tasks", { title: "a" });
    expect(keyOf(sent[0]!.init)).not.toBe(keyOf(sent[1]!.init));

    vi.useFakeTimers();
    try {
      const failures = fetchScript(...Array.from({ length: 4 }, () => new TypeError("Failed to fetch")));
      const outcome = client.post("/tasks", { title: "c" }).catch((err: unknown) => err);
      await vi.runAllTimersAsync();
      const err = await outcome;
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(0);
      expect(failures).toHaveLength(4); // the first try and three retries
      expect(new Set(failures.map((s) => keyOf(s.init))).size).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("never re-sends sign-in, token rotation or reads, and sends them no key", async () => {
    const sent = fetchScript(new TypeError("Failed to fetch"), new TypeError("Failed to fetch"), new TypeError("Failed to fetch"));
    const client = new ApiClient(tokens, "");
    await expect(client.post("/auth/login", { email: "a@example.com", password: "p" }, { auth: false })).rejects.toMatchObject({ status: 0 });
    await expect(client.post("/auth/refresh", {}, { auth: false })).rejects.toMatchObject({ status: 0 });
    await expect(client.get("/boards")).rejects.toMatchObject({ status: 0 });
    expect(sent).toHaveLength(3);
    expect(sent.map((s) => keyOf(s.init))).toEqual([undefined, undefined, undefined]);
  });

  it("never re-sends a file (a board import)", async () => {
    const sent = fetchScript(new TypeError("Failed to fetch"));
    await expect(new ApiClient(tokens, "").postFile("/boards/import", new Blob(["{}"]))).rejects.toMatchObject({ status: 0 });
    expect(sent).toHaveLength(1);
    expect(keyOf(sent[0]!.init)).toBeUndefined();
  });

  it("passes other answers through at once: a 409 conflict is not retried", async () => {
    const sent = fetchScript(json(409, { code: "column_name_taken", status: 409 }));
    await expect(new ApiClient(tokens, "").post("/boards/b/columns", { name: "x" })).rejects.toMatchObject({ status: 409, code: "column_name_taken" });
    expect(sent).toHaveLength(1);
  });
});
