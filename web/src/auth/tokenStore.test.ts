import { describe, expect, it, vi } from "vitest";
import type { Session } from "../api/types";
import { refreshLeadMs, TokenStore } from "./tokenStore";

function session(n: number, expiresIn = 900): Session {
  return {
    user: { id: "u1", email: "a@example.test", name: "A", created_at: "2026-01-01T00:00:00Z" },
    access_token: `access-${n}`,
    refresh_token: `refresh-${n}`,
    token_type: "bearer",
    expires_in: expiresIn,
  };
}

function setup(refresh: () => Promise<Session>, exclusive?: <T>(fn: () => Promise<T>) => Promise<T>) {
  let now = 1_000_000;
  const timers: { fn: () => void; at: number }[] = [];
  const store = new TokenStore({
    refresh,
    ...(exclusive ? { exclusive } : {}),
    now: () => now,
    setTimer: (fn, ms) => timers.push({ fn, at: now + ms }),
    clearTimer: (h) => {
      const i = (h as number) - 1;
      if (timers[i]) timers[i] = { fn: () => undefined, at: Infinity };
    },
  });
  return { store, timers, advance: (ms: number) => (now += ms) };
}

describe("TokenStore", () => {
  it("keeps the access token in memory only, never the refresh token", () => {
    const { store } = setup(vi.fn());
    store.setSession(session(1));
    expect(store.session?.accessToken).toBe("access-1");
    expect(JSON.stringify(store.session)).not.toContain("refresh-1");
  });

  it("resumes a session from the refresh cookie at start-up (a reload, a new tab)", async () => {
    const refresh = vi.fn(async () => session(7));
    const { store } = setup(refresh);
    const seen: boolean[] = [];
    store.subscribe(() => seen.push(store.resuming));
    const resumed = store.resume();
    expect(store.resuming).toBe(true);
    await resumed;
    expect(store.resuming).toBe(false);
    expect(store.session?.accessToken).toBe("access-7");
    expect(seen[0]).toBe(true);
  });

  it("without a usable cookie, start-up ends signed out, without an 'expired' notice", async () => {
    const { store } = setup(async () => {
      throw Object.assign(new Error("no cookie"), { status: 401 });
    });
    await store.resume();
    expect(store.session).toBeNull();
    expect(store.endedBecause).toBeNull();
  });

  it("resuming tries again when the server is busy (429) rather than signing out", async () => {
    let calls = 0;
    const { store, timers } = setup(async () => {
      if (++calls === 1) throw Object.assign(new Error("busy"), { status: 429 });
      return session(3);
    });
    const resumed = store.resume();
    await vi.waitFor(() => expect(timers.length).toBeGreaterThan(0));
    expect(store.resuming).toBe(true);
    timers.at(-1)!.fn();
    await resumed;
    expect(store.session?.accessToken).toBe("access-3");
  });

  it("refreshes inside the cross-tab lock, so tabs never spend one refresh token twice", async () => {
    const order: string[] = [];
    let held = Promise.resolve();
    const exclusive = <T,>(fn: () => Promise<T>): Promise<T> => {
      const run = held.then(async () => {
        order.push("lock");
        const result = await fn();
        order.push("unlock");
        return result;
      });
      held = run.then(() => undefined, () => undefined);
      return run;
    };
    const refresh = vi.fn(async () => {
      order.push("refresh");
      return session(2);
    });
    const { store } = setup(refresh, exclusive);
    store.setSession(session(1));
    await store.refresh();
    expect(order).toEqual(["lock", "refresh", "unlock"]);
  });

  it("gives the current access token while it is fresh", async () => {
    const refresh = vi.fn();
    const { store } = setup(refresh);
    store.setSession(session(1));
    expect(await store.accessToken()).toBe("access-1");
    expect(refresh).not.toHaveBeenCalled();
  });

  it("refreshes before use when the token is about to expire, taking the rotated session", async () => {
    const refresh = vi.fn(async () => session(2));
    const { store, advance } = setup(refresh);
    store.setSession(session(1));
    advance(900_000 - 5_000);
    expect(await store.accessToken()).toBe("access-2");
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(store.session?.accessToken).toBe("access-2");
  });

  it("scales the use-time margin down for short-lived tokens", async () => {
    const refresh = vi.fn(async () => session(2, 12));
    const { store, advance } = setup(refresh);
    store.setSession(session(1, 12));
    advance(5_000); // 7 s left of 12: still fine to use
    expect(await store.accessToken()).toBe("access-1");
    advance(6_000); // 1 s left: refresh first
    expect(await store.accessToken()).toBe("access-2");
  });

  it("never runs two refreshes at once", async () => {
    let resolve!: (s: Session) => void;
    const refresh = vi.fn(() => new Promise<Session>((r) => (resolve = r)));
    const { store } = setup(refresh);
    store.setSession(session(1));
    const a = store.refresh();
    const b = store.refresh();
    const c = store.refreshAfterRejection("access-1");
    resolve(session(2));
    expect(await Promise.all([a, b, c])).toEqual(["access-2", "access-2", "access-2"]);
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it("after a 401, a caller holding an already-replaced token gets the new one without refreshing", async () => {
    const refresh = vi.fn(async () => session(2));
    const { store } = setup(refresh);
    store.setSession(session(1));
    await store.refresh();
    expect(await store.refreshAfterRejection("access-1")).toBe("access-2");
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it("schedules the refresh shortly before expiry", async () => {
    const refresh = vi.fn(async () => session(2));
    const { store, timers } = setup(refresh);
    store.setSession(session(1, 900));
    const timer = timers.at(-1)!;
    expect(timer.at).toBe(1_000_000 + 900_000 - 60_000);
    timer.fn();
    await vi.waitFor(() => expect(store.session?.accessToken).toBe("access-2"));
    expect(refreshLeadMs(10_000)).toBe(2_000);
  });

  it("ends the session when the server refuses the refresh token", async () => {
    const refresh = vi.fn(async () => {
      throw Object.assign(new Error("spent"), { status: 401 });
    });
    const { store } = setup(refresh);
    const reasons: string[] = [];
    store.subscribe((_s, reason) => reasons.push(reason));
    store.setSession(session(1));
    expect(await store.refresh()).toBeNull();
    expect(store.session).toBeNull();
    expect(reasons).toEqual(["signed-in", "ended"]);
  });

  it("keeps the session through a network failure and retries", async () => {
    const refresh = vi.fn(async () => {
      throw Object.assign(new Error("offline"), { status: 0 });
    });
    const { store } = setup(refresh);
    store.setSession(session(1));
    await expect(store.refresh()).rejects.toThrow("offline");
    expect(store.session?.accessToken).toBe("access-1");
  });

  it("tells refresh listeners the new access token (so the live connection can present it)", async () => {
    const { store } = setup(async () => session(2));
    const seen: string[] = [];
    store.onRefreshed((token) => seen.push(token));
    store.setSession(session(1));
    await store.refresh();
    expect(seen).toEqual(["access-2"]);
  });

  it("clear('deleted') names the deletion even after the session already ended", () => {
    const { store } = setup(vi.fn());
    store.setSession(session(1));
    store.clear("expired");
    store.clear("deleted");
    expect(store.session).toBeNull();
    expect(store.endedBecause).toBe("deleted");
    store.clear("expired");
    expect(store.endedBecause).toBe("deleted");
  });

  it("clear() signs out", () => {
    const { store } = setup(vi.fn());
    store.setSession(session(1));
    store.clear();
    expect(store.session).toBeNull();
    expect(store.endedBecause).toBe("signed-out");
  });
});
