import type { TokenSource } from "../api/client";
import type { Session, User } from "../api/types";

/**
 * Where the tokens live: in memory, mirrored to sessionStorage.
 *
 * Why sessionStorage: a reload keeps the user signed in, closing the tab signs out,
 * and other tabs and windows never see the tokens (unlike localStorage). It is still
 * readable by script on this origin, as memory is: the defence against that is a
 * strict CSP and not rendering untrusted HTML, which this app never does. The access
 * token lives 15 minutes at most and the refresh token rotates on every use, so a
 * stolen copy is short-lived or is detected (reuse revokes the whole login).
 */
export interface StoredSession {
  user: User;
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds at which the access token expires. */
  expiresAt: number;
  /** Epoch milliseconds at which it was issued (to size the refresh lead). */
  issuedAt: number;
}

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class SessionEndedError extends Error {
  constructor() {
    super("Your session has ended. Please sign in again.");
    this.name = "SessionEndedError";
  }
}

export interface TokenStoreOptions {
  /** Exchanges a refresh token for a new session; rejects with an error carrying `status` on refusal. */
  refresh: (refreshToken: string) => Promise<Session>;
  storage?: KeyValueStorage | null;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  storageKey?: string;
}

type Listener = (session: StoredSession | null, reason: "signed-in" | "refreshed" | "updated" | "ended") => void;

/** A token with less than this left (or a tenth of its lifetime, if shorter) is refreshed before use. */
const USE_SKEW_MS = 15_000;
const RETRY_AFTER_FAILURE_MS = 5_000;
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
  private readonly opts: Required<Omit<TokenStoreOptions, "storage">> & { storage: KeyValueStorage | null };

  constructor(options: TokenStoreOptions) {
    this.opts = {
      storage: options.storage ?? null,
      now: options.now ?? (() => Date.now()),
      setTimer: options.setTimer ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimer: options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
      storageKey: options.storageKey ?? "taskflow.session",
      refresh: options.refresh,
    };
    this.current = this.load();
    if (this.current) this.schedule();
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
    this.current = {
      user: session.user,
      accessToken: session.access_token,
      refreshToken: session.refresh_token,
      issuedAt: now,
      expiresAt: now + session.expires_in * 1000,
    };
    this.endedBecause = null;
    this.persist();
    this.schedule();
    this.emit(reason);
  }

  setUser(user: User): void {
    if (!this.current) return;
    this.current = { ...this.current, user };
    this.persist();
    this.emit("updated");
  }

  /** Why the last session ended, for the sign-in page to explain. */
  endedBecause: "signed-out" | "expired" | null = null;

  /** Forgets the session (sign-out, or the server refused our refresh token). */
  clear(reason: "signed-out" | "expired" = "signed-out"): void {
    const had = this.current !== null;
    if (had) this.endedBecause = reason;
    this.current = null;
    this.inflight = null;
    this.unschedule();
    this.opts.storage?.removeItem(this.opts.storageKey);
    if (had) this.emit("ended");
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
    const s = this.current;
    if (!s) return Promise.resolve(null);
    const attempt = this.opts
      .refresh(s.refreshToken)
      .then((session) => {
        if (this.current?.refreshToken !== s.refreshToken) return this.current?.accessToken ?? null;
        this.setSession(session, "refreshed");
        return session.access_token;
      })
      .catch((err: unknown) => {
        const status = (err as { status?: number } | null)?.status;
        if (status !== undefined && SESSION_OVER_STATUSES.has(status)) {
          if (this.current?.refreshToken === s.refreshToken) this.clear("expired");
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

  private persist(): void {
    if (this.current) this.opts.storage?.setItem(this.opts.storageKey, JSON.stringify(this.current));
  }

  private load(): StoredSession | null {
    const raw = this.opts.storage?.getItem(this.opts.storageKey);
    if (!raw) return null;
    try {
      const parsed = JSON.parse(raw) as StoredSession;
      if (typeof parsed.refreshToken === "string" && typeof parsed.accessToken === "string" && parsed.user) {
        return parsed;
      }
    } catch {
      // A corrupt entry is the same as none.
    }
    this.opts.storage?.removeItem(this.opts.storageKey);
    return null;
  }
}
