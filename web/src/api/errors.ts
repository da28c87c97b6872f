import { humanFieldMessage, humanMessage } from "./messages";
import type { FieldError, Problem } from "./types";

/** Every failed API call becomes one of these, carrying the server's problem+json. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  readonly etag: string | null;

  constructor(status: number, problem: Problem, etag: string | null = null) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.name = "ApiError";
    this.status = status;
    this.code = problem.code ?? "error";
    this.problem = problem;
    this.etag = etag;
  }
}

/** The error to show when the network itself failed (server down, offline). */
export function networkError(cause: unknown): ApiError {
  // The browser's own wording ("Failed to fetch") tells a person nothing; keep it for the console.
  if (typeof console !== "undefined") console.debug("network error", cause);
  return new ApiError(0, {
    title: "The server can't be reached",
    detail: "The server can't be reached. Check your connection and try again.",
    code: "network_error",
    status: 0,
  });
}

/** A human sentence for any error (see messages.ts). */
export function errorMessage(err: unknown): string {
  return humanMessage(err);
}

/**
 * Field messages of a 422, keyed by the field's name: the last string in `loc`
 * (`["body", "email"]` → `email`). Errors without a field land under `""`.
 */
export function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError) || !err.problem.errors) return {};
  const out: Record<string, string> = {};
  for (const e of err.problem.errors as FieldError[]) {
    const names = (e.loc ?? []).filter((p): p is string => typeof p === "string" && p !== "body");
    const key = names.length > 0 ? (names[names.length - 1] ?? "") : "";
    const msg = humanFieldMessage(e.msg);
    out[key] = out[key] && out[key] !== msg ? `${out[key]} ${msg}` : msg;
  }
  return out;
}

/** Turns a response body into a Problem, whatever the server sent. */
export function toProblem(status: number, statusText: string, body: unknown): Problem {
  if (body && typeof body === "object") return body as Problem;
  return { status, title: statusText || `HTTP ${status}`, code: "http_error" };
}
