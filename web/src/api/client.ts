import { ApiError, networkError, toProblem } from "./errors";
import type { ListPage } from "./types";

export type Query = Record<string, string | number | undefined | null>;

export interface RequestOptions {
  body?: unknown;
  /** A file sent as it is (streamed by the browser), instead of `body` as JSON. */
  file?: Blob;
  query?: Query;
  headers?: Record<string, string>;
  /** Send the bearer token (default true). */
  auth?: boolean;
  signal?: AbortSignal;
  /** Let the request outlive the page (sent while it unloads). */
  keepalive?: boolean;
}

export interface UploadOptions {
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  etag: string | null;
}

export interface TokenSource {
  /** A valid access token (refreshed first when it is about to expire), or null when signed out. */
  accessToken(): Promise<string | null>;
  /** Called after a 401: refresh once and return the new token, or null when the session is over. */
  refreshAfterRejection(rejected: string): Promise<string | null>;
}

/** The API base URL: `VITE_API_URL` when set at build time, else same origin. */
export function apiBaseUrl(): string {
  const configured = (import.meta.env?.VITE_API_URL as string | undefined) ?? "";
  return configured.replace(/\/+$/, "");
}

function buildUrl(base: string, path: string, query?: Query): string {
  const url = `${base}/api/v1${path}`;
  if (!query) return url;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${url}?${qs}` : url;
}

async function readBody(res: Response): Promise<unknown> {
  if (res.status === 204) return undefined;
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Waits before re-sending a POST whose answer never came (the network failed) or that the
 * server said is still running (409 idempotency_key_in_use). The retry carries the first
 * try's Idempotency-Key, so the server runs the write once and answers the retry with the
 * first response (README "Idempotent writes").
 */
export const POST_RETRY_DELAYS_MS = [400, 1500, 4000];

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; this doesn't). */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A small typed fetch wrapper: JSON in and out, bearer auth, one retry after a refresh, and
 * signed-in POSTs (writes) retried with an Idempotency-Key when their answer is lost.
 */
export class ApiClient {
  constructor(
    private readonly tokens: TokenSource | null,
    private readonly baseUrl: string = apiBaseUrl(),
  ) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const useAuth = opts.auth !== false && this.tokens !== null;
    // Sign-in, sign-up and token rotation are never re-sent: the server keys nothing there
    // (a second refresh would spend the rotated token and end the login). Nor is a file (a
    // board import: up to 200 MB to upload again), nor a request sent while the page unloads.
    const retried = method === "POST" && useAuth && !path.startsWith("/auth/") && !opts.keepalive
      && opts.file === undefined;
    if (retried && !opts.headers?.["Idempotency-Key"]) {
      opts = { ...opts, headers: { ...opts.headers, "Idempotency-Key": newIdempotencyKey() } };
    }
    let token = useAuth ? await this.tokens!.accessToken() : null;
    let res = await this.sendRetried(method, path, opts, token, retried);
    if (res.status === 401 && useAuth && token) {
      token = await this.tokens!.refreshAfterRejection(token);
      if (token) res = await this.sendRetried(method, path, opts, token, retried);
    }
    const body = await readBody(res);
    const etag = res.headers.get("ETag");
    if (!res.ok) throw new ApiError(res.status, toProblem(res.status, res.statusText, body), etag);
    return { data: body as T, status: res.status, etag };
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, { query, signal }).then((r) => r.data);
  }

  /** Every item of a cursor-paginated list (`{items, next_cursor}`), following the cursor. */
  async getAll<T>(path: string, query: Query = {}): Promise<T[]> {
    const all: T[] = [];
    let cursor: string | null = null;
    do {
      const page: ListPage<T> = await this.get<ListPage<T>>(path, { ...query, cursor });
      all.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return all;
  }

  post<T>(path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("POST", path, { ...opts, body }).then((r) => r.data);
  }

  patch<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("PATCH", path, { ...opts, body }).then((r) => r.data);
  }

  put<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("PUT", path, { ...opts, body }).then((r) => r.data);
  }

  /** POSTs a JSON file as it is (not parsed here: it may be large). */
  postFile<T>(path: string, file: Blob): Promise<T> {
    return this.request<T>("POST", path, { file }).then((r) => r.data);
  }

  async delete(path: string, opts: RequestOptions = {}): Promise<void> {
    await this.request<void>("DELETE", path, opts);
  }

  /** GETs a file (following a redirect, e.g. to a presigned S3 URL) as a Blob. */
  async blob(path: string): Promise<Blob> {
    const useAuth = this.tokens !== null;
    let token = useAuth ? await this.tokens!.accessToken() : null;
    let res = await this.send("GET", path, { headers: { Accept: "*/*" } }, token);
    if (res.status === 401 && useAuth && token) {
      token = await this.tokens!.refreshAfterRejection(token);
      if (token) res = await this.send("GET", path, { headers: { Accept: "*/*" } }, token);
    }
    if (!res.ok) throw new ApiError(res.status, toProblem(res.status, res.statusText, await readBody(res)));
    return res.blob();
  }

  /**
   * POSTs a multipart form with upload progress (fetch has none, so XMLHttpRequest). `url` is
   * an API path, or an absolute URL (a presigned S3 form: no bearer token then).
   */
  async upload<T>(url: string, form: FormData, opts: UploadOptions = {}): Promise<T | undefined> {
    const absolute = /^https?:\/\//.test(url);
    const useAuth = !absolute && this.tokens !== null;
    let token = useAuth ? await this.tokens!.accessToken() : null;
    let res = await this.xhr(absolute ? url : buildUrl(this.baseUrl, url), form, token, opts);
    if (res.status === 401 && useAuth && token) {
      token = await this.tokens!.refreshAfterRejection(token);
      if (token) res = await this.xhr(buildUrl(this.baseUrl, url), form, token, opts);
    }
    let body: unknown = undefined;
    try {
      body = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      body = res.text;
    }
    if (res.status < 200 || res.status >= 300) throw new ApiError(res.status, toProblem(res.status, "", body));
    return body as T | undefined;
  }

  private xhr(url: string, form: FormData, token: string | null, opts: UploadOptions): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = new XMLHttpRequest();
      req.open("POST", url);
      if (token) {
        req.setRequestHeader("Authorization", `Bearer ${token}`);
        req.setRequestHeader("Accept", "application/json, application/problem+json");
      }
      req.upload.onprogress = (e) => {
        if (e.lengthComputable) opts.onProgress?.(e.loaded, e.total);
      };
      req.onload = () => resolve({ status: req.status, text: req.responseText });
      req.onerror = () => reject(networkError(new Error("upload failed")));
      req.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
      opts.signal?.addEventListener("abort", () => req.abort(), { once: true });
      req.send(form);
    });
  }

  /** send(), and for a write with an Idempotency-Key, again after a lost answer or a 409 in use. */
  private async sendRetried(method: string, path: string, opts: RequestOptions, token: string | null,
    retried: boolean): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const last = !retried || attempt >= POST_RETRY_DELAYS_MS.length || opts.signal?.aborted;
      let res: Response;
      try {
        res = await this.send(method, path, opts, token);
      } catch (err) {
        if (last || !(err instanceof ApiError) || err.status !== 0) throw err;
        await pause(POST_RETRY_DELAYS_MS[attempt]!);
        continue;
      }
      if (last || res.status !== 409 || res.headers.get("Content-Type")?.includes("problem+json") !== true) return res;
      const problem = (await res.clone().json().catch(() => null)) as { code?: string } | null;
      if (problem?.code !== "idempotency_key_in_use") return res;
      const after = Number(res.headers.get("Retry-After"));
      await pause(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 5000) : POST_RETRY_DELAYS_MS[attempt]!);
    }
  }

  private async send(method: string, path: string, opts: RequestOptions, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json, application/problem+json", ...opts.headers };
    if (opts.body !== undefined || opts.file !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return await fetch(buildUrl(this.baseUrl, path, opts.query), {
        method,
        headers,
        body: opts.file ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
        signal: opts.signal,
        keepalive: opts.keepalive,
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      throw networkError(err);
    }
  }
}
