import type { TokenSource } from "../api/client";
import type { Session, User } from "../api/types";

/**
 * Where the tokens live. The access token: in this page's memory only. The refresh token:
 * in an HttpOnly, Secure, SameSite=Strict cookie the server sets, sent only to /api/v1/auth,
 * which script can't read. A reload or a new tab (a task link opened in another tab) resumes
 * the session by refreshing with that cookie; tabs take turns to refresh (a Web Lock), so two
 * never spend the same refresh token, which the server would treat as theft.
 */
/** Why a session ended. */
export type SessionEnd = "signed-out" | "expired" | "deleted";

export interface StoredSession {
  user: User;
  accessToken: string;
  /** Epoch milliseconds at which the access token expires. */
  expiresAt: number;
  /** Epoch milliseconds at which it was issued (to size the refresh lead). */
  issuedAt: number;
}

export class SessionEndedError extends Error {
  constructor() {
    super("Your session has ended. Please sign in again.");
    this.name = "SessionEndedError";
  }
}

export interface TokenStoreOptions {
  /** Exchanges the refresh cookie for a new session; rejects with an error carrying `status` on refusal. */
  refresh: () => Promise<Session>;
  /** Runs `fn` while no other tab of this origin refreshes (navigator.locks); default: just runs it. */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

type Listener = (session: StoredSession | null, reason: "signed-in" | "refreshed" | "updated" | "ended") => void;

/** A token with less than this left (or a tenth of its lifetime, if shorter) is refreshed before use. */
const USE_SKEW_MS = 15_000;
const RETRY_AFTER_FAILURE_MS = 5_000;
/** Waits between the tries of resuming a session at start-up when the server is busy or away. */
const RESUME_RETRIES = [1_000, 3_000, 6_000];
/** Refusals that mean the refresh token is spent or revoked (429 and 5xx are retried). */
const SESSION_OVER_STATUSES = new Set([400, 401, 403, 404, 422]);

/** How long before expiry to refresh: a fifth of the lifetime, at most a minute. */
export function refreshLeadMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(1_000, lifetimeMs * 0.2));
}

/** Holds the session's tokens and rotates them; at most one refresh is ever in flight. */
export class TokenStore implements TokenSource {
  private current: StoredSession | null = null;
  private inflight: Promise<string | null> | null = null;
  private timer: unknown = null;
  private readonly listeners = new Set<Listener>();
  /** Bumped whenever the session is replaced or ended: a refresh that started before is stale. */
  private generation = 0;
  private resumingNow = false;
  private readonly opts: Required<TokenStoreOptions>;

  constructor(options: TokenStoreOptions) {
    this.opts = {
      now: options.now ?? (() => Date.now()),
      setTimer: options.setTimer ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimer: options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
      exclusive: options.exclusive ?? ((fn) => fn()),
      refresh: options.refresh,
    };
  }

  /** True while start-up is looking for a session to resume (the refresh cookie). */
  get resuming(): boolean {
    return this.resumingNow;
  }

  /**
   * At start-up (a reload, a new tab): resumes the session the refresh cookie holds, if any.
   * Without one, or refused, the visitor is simply signed out.
   */
  async resume(): Promise<void> {
    if (this.current) return;
    this.resumingNow = true;
    this.emit("updated");
    const generation = this.generation;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const session = await this.opts.exclusive(() => this.opts.refresh());
          if (generation === this.generation && !this.current) this.setSession(session, "signed-in");
          return;
        } catch (err) {
          // No cookie or a spent one: signed out. Busy (429), failing (5xx) or offline: a few more tries.
          const status = (err as { status?: number } | null)?.status;
          if ((status !== undefined && SESSION_OVER_STATUSES.has(status)) || attempt >= RESUME_RETRIES.length) return;
          await new Promise((resolve) => this.opts.setTimer(() => resolve(undefined), RESUME_RETRIES[attempt]!));
          if (generation !== this.generation || this.current) return;
        }
      }
    } finally {
      this.resumingNow = false;
      this.emit("updated");
    }
  }

  get session(): StoredSession | null {
    return this.current;
  }

  /** Calls `fn` with every access token a refresh brings. */
  onRefreshed(fn: (token: string) => void): () => void {
    return this.subscribe((session, reason) => {
      if (session && reason === "refreshed") fn(session.accessToken);
    });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stores the tokens a register, login or refresh answered with. */
  setSession(session: Session, reason: "signed-in" | "refreshed" = "signed-in"): void {
    const now = this.opts.now();
    // The body's refresh_token is not kept: the cookie holds it, out of script's reach.
    this.current = {
      user: session.user,
      accessToken: session.access_token,
      issuedAt: now,
      expiresAt: now + session.expires_in * 1000,
    };
    this.generation++;
    this.endedBecause = null;
    this.schedule();
    this.emit(reason);
  }

  setUser(user: User): void {
    if (!this.current) return;
    this.current = { ...this.current, user };
    this.emit("updated");
  }

  /** Why the last session ended, for the sign-in page to explain. */
  endedBecause: SessionEnd | null = null;

  /**
   * Forgets the session (sign-out, the server refused our refresh token, or the account was
   * deleted). A deletion is named even when the session had already ended: the live channel's
   * `auth:revoked` for it can arrive before the answer to the DELETE.
   */
  clear(reason: SessionEnd = "signed-out"): void {
    const had = this.current !== null;
    const named = had || reason === "deleted";
    if (named) this.endedBecause = reason;
    this.current = null;
    this.generation++;
    this.inflight = null;
    this.unschedule();
    if (named) this.emit("ended");
  }

  async accessToken(): Promise<string | null> {
    const s = this.current;
    if (!s) return null;
    const skew = Math.min(USE_SKEW_MS, (s.expiresAt - s.issuedAt) * 0.1);
    if (s.expiresAt - this.opts.now() > skew) return s.accessToken;
    return this.refresh();
  }

  async refreshAfterRejection(rejected: string): Promise<string | null> {
    // Another caller may already have replaced the token that was refused.
    if (this.current && this.current.accessToken !== rejected) return this.current.accessToken;
    return this.refresh();
  }

  /**
   * Rotates the tokens; concurrent callers share one request. Resolves to the new
   * access token, or null when the server refused (the session is then cleared).
   * Network failures reject and keep the session, to be retried.
   */
  refresh(): Promise<string | null> {
    if (this.inflight) return this.inflight;
    if (!this.current) return Promise.resolve(null);
    const generation = this.generation;
    const attempt = this.opts
      .exclusive(() => this.opts.refresh())
      .then((session) => {
        if (generation !== this.generation) return this.current?.accessToken ?? null;
        this.setSession(session, "refreshed");
        return session.access_token;
      })
      .catch((err: unknown) => {
        const status = (err as { status?: number } | null)?.status;
        if (status !== undefined && SESSION_OVER_STATUSES.has(status)) {
          if (generation === this.generation) this.clear("expired");
          return null;
        }
        this.scheduleIn(RETRY_AFTER_FAILURE_MS);
        throw err;
      })
      .finally(() => {
        if (this.inflight === attempt) this.inflight = null;
      });
    this.inflight = attempt;
    return attempt;
  }

  private schedule(): void {
    const s = this.current;
    if (!s) return;
    const lead = refreshLeadMs(s.expiresAt - s.issuedAt);
    this.scheduleIn(Math.max(0, s.expiresAt - lead - this.opts.now()));
  }

  private scheduleIn(ms: number): void {
    this.unschedule();
    this.timer = this.opts.setTimer(() => {
      this.timer = null;
      this.refresh().catch(() => undefined);
    }, ms);
  }

  private unschedule(): void {
    if (this.timer !== null) this.opts.clearTimer(this.timer);
    this.timer = null;
  }

  private emit(reason: Parameters<Listener>[1]): void {
    for (const l of [...this.listeners]) l(this.current, reason);
  }
}
