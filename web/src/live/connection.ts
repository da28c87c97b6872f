/**
 * The one Socket.IO connection of a signed-in tab: authenticates with a fresh access
 * token on every (re)connect, recovers from expired tokens and server-side
 * disconnects, and reports a simple status for the UI.
 */
import { io, type Socket } from "socket.io-client";

export type ConnectionStatus = "connecting" | "live" | "reconnecting" | "offline";

/** What the board sync needs from a live channel (a fake in tests, Socket.IO here). */
export interface LiveChannel {
  readonly connected: boolean;
  /** Called on every successful (re)connect. */
  onConnect(fn: () => void): () => void;
  on(event: string, fn: (payload: unknown) => void): () => void;
  /** Emits with an acknowledgement; rejects after `timeoutMs`. */
  request(event: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  send(event: string, payload: unknown): void;
}

export interface ConnectionTokens {
  accessToken(): Promise<string | null>;
  refresh(): Promise<string | null>;
  /** Calls `fn` with each new access token after a refresh. */
  onRefreshed?(fn: (token: string) => void): () => void;
}

export interface LiveConnectionOptions {
  tokens: ConnectionTokens;
  /** Server URL; '' for same origin. */
  url?: string;
  /** Called when the server refuses us and no refreshed token can be had. */
  onSessionEnded?: () => void;
}

const MAX_AUTH_RETRY_MS = 15_000;

export class LiveConnection implements LiveChannel {
  private socket: Socket | null = null;
  private currentStatus: ConnectionStatus = "connecting";
  private everConnected = false;
  private authRetryMs = 500;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly statusListeners = new Set<(s: ConnectionStatus) => void>();
  private readonly connectListeners = new Set<() => void>();
  private readonly handlers = new Map<string, Set<(payload: unknown) => void>>();

  private unsubscribeTokens: (() => void) | null = null;
  /** The access token the server holds for this connection. */
  private socketToken: string | null = null;

  constructor(private readonly opts: LiveConnectionOptions) {}

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  subscribeStatus(fn: (s: ConnectionStatus) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  start(): void {
    if (this.socket) return;
    const socket = io(this.opts.url ?? "", {
      path: "/socket.io",
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
      // The callback form runs on every attempt, so a reconnect never reuses a stale token.
      auth: (cb) => {
        this.opts.tokens
          .accessToken()
          .then((token) => {
            this.socketToken = token;
            cb({ token: token ?? "" });
          })
          .catch(() => cb({ token: "" }));
      },
    });
    this.socket = socket;
    socket.on("connect", () => {
      this.everConnected = true;
      this.authRetryMs = 500;
      this.updateStatus();
      for (const fn of [...this.connectListeners]) fn();
    });
    socket.on("disconnect", (reason) => {
      this.updateStatus();
      // The server closed us on purpose (token expired, logout elsewhere): it won't come back by itself.
      if (reason === "io server disconnect") this.reauthenticate();
    });
    socket.on("connect_error", (err: Error) => {
      this.updateStatus();
      if (err.message === "unauthorized") this.reauthenticate();
      else if (!socket.active) this.retryLater();
    });
    socket.on("auth:expired", () => {
      socket.disconnect();
      this.reauthenticate();
    });
    // The server warns before the connection's token lapses (additive to the v1 contract):
    // hand it a fresh one over `auth:refresh` instead of reconnecting.
    socket.on("auth:expiring", () => void this.onExpiring());
    this.unsubscribeTokens = this.opts.tokens.onRefreshed?.((token) => void this.presentToken(token)) ?? null;
    socket.onAny((event: string, payload: unknown) => {
      for (const fn of [...(this.handlers.get(event) ?? [])]) fn(payload);
    });
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.updateStatus();
    socket.connect();
  }

  stop(): void {
    this.unsubscribeTokens?.();
    this.unsubscribeTokens = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    this.socket?.removeAllListeners();
    this.socket?.offAny();
    this.socket?.disconnect();
    this.socket = null;
    this.everConnected = false;
    this.updateStatus();
  }

  onConnect(fn: () => void): () => void {
    this.connectListeners.add(fn);
    return () => this.connectListeners.delete(fn);
  }

  on(event: string, fn: (payload: unknown) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  request(event: string, payload: unknown, timeoutMs = 10_000): Promise<unknown> {
    const socket = this.socket;
    if (!socket?.connected) return Promise.reject(new Error("not connected"));
    return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<unknown>;
  }

  send(event: string, payload: unknown): void {
    if (this.socket?.connected) this.socket.emit(event, payload);
  }

  /** The server says the connection's token lapses soon: give it a newer one, refreshing if needed. */
  private async onExpiring(): Promise<void> {
    const tokens = this.opts.tokens;
    const current = await tokens.accessToken().catch(() => null);
    if (current && current !== this.socketToken) await this.presentToken(current);
    else await tokens.refresh().catch(() => null); // onRefreshed presents the new one
  }

  /** Extends the open connection with a new token; if refused, reconnects (with a fresh token). */
  private async presentToken(token: string): Promise<void> {
    const socket = this.socket;
    if (!socket?.connected) return; // the next connect authenticates with it anyway
    try {
      const ack = (await this.request("auth:refresh", { token }, 10_000)) as { ok?: boolean } | undefined;
      if (ack?.ok) this.socketToken = token;
      else if (ack?.ok === false && socket === this.socket) {
        socket.disconnect();
        this.reauthenticate();
      }
    } catch {
      // No answer: if the token lapses, the server's auth:expired leads to a reconnect.
    }
  }

  /** Gets a new access token, then connects again; gives up when the session is over. */
  private reauthenticate(): void {
    this.opts.tokens
      .refresh()
      .then((token) => {
        if (!this.socket) return;
        if (token === null) {
          this.opts.onSessionEnded?.();
          return;
        }
        this.retryLater();
      })
      .catch(() => this.retryLater());
  }

  private retryLater(): void {
    if (this.retryTimer || !this.socket) return;
    const delay = this.authRetryMs;
    this.authRetryMs = Math.min(MAX_AUTH_RETRY_MS, this.authRetryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.socket && !this.socket.connected && !this.socket.active) this.socket.connect();
    }, delay);
  }

  private readonly onOnline = (): void => {
    this.updateStatus();
    const socket = this.socket;
    if (socket && !socket.connected) {
      // Don't wait for the backoff: the network is back now.
      socket.disconnect();
      socket.connect();
    }
  };

  private readonly onOffline = (): void => this.updateStatus();

  private updateStatus(): void {
    let next: ConnectionStatus;
    if (typeof navigator !== "undefined" && navigator.onLine === false) next = "offline";
    else if (this.socket?.connected) next = "live";
    else if (!this.socket) next = "offline";
    else next = this.everConnected ? "reconnecting" : "connecting";
    if (next === this.currentStatus) return;
    this.currentStatus = next;
    for (const fn of [...this.statusListeners]) fn(next);
  }
}
