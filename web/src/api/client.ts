import { ApiError, networkError, toProblem } from "./errors";

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

/** A small typed fetch wrapper: JSON in and out, bearer auth, one retry after a refresh. */
export class ApiClient {
  constructor(
    private readonly tokens: TokenSource | null,
    private readonly baseUrl: string = apiBaseUrl(),
  ) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const useAuth = opts.auth !== false && this.tokens !== null;
    let token = useAuth ? await this.tokens!.accessToken() : null;
    let res = await this.send(method, path, opts, token);
    if (res.status === 401 && useAuth && token) {
      token = await this.tokens!.refreshAfterRejection(token);
      if (token) res = await this.send(method, path, opts, token);
    }
    const body = await readBody(res);
    const etag = res.headers.get("ETag");
    if (!res.ok) throw new ApiError(res.status, toProblem(res.status, res.statusText, body), etag);
    return { data: body as T, status: res.status, etag };
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, { query, signal }).then((r) => r.data);
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
