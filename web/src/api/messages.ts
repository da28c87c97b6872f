/**
 * Sentences for people. The server's problem+json carries stable codes and field paths; its
 * wording is written for developers ("body.password: String should have at least 8
 * characters"), so the browser says it again in plain words, next to the field concerned.
 */
import { ApiError } from "./errors";
import type { FieldError } from "./types";

const RULES: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/at least (\d+) characters?/i, (m) => `Use at least ${m[1]} characters.`],
  [/at most (\d+) characters?/i, (m) => `Use at most ${m[1]} characters.`],
  [/valid email|email address/i, () => "Enter an email address like name@example.com."],
  [/field required|missing/i, () => "This is required."],
  [/valid date|datetime|date format/i, () => "Enter a valid date."],
  [/input should be '([^']+)'( or '([^']+)')*/i, () => "Choose one of the options offered."],
  [/extra inputs are not permitted/i, () => "This field can't be sent here."],
];

/** One validation message of the server, in plain words. */
export function humanFieldMessage(msg: string): string {
  for (const [pattern, say] of RULES) {
    const match = msg.match(pattern);
    if (match) return say(match);
  }
  const text = msg.replace(/^value error,\s*/i, "").trim();
  return text ? text[0]!.toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".") : "This value is not accepted.";
}

/** A sentence for an error that belongs to no field. */
export function humanMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return "The server can't be reached. Check your connection and try again.";
    if (err.status === 429) return "Too many attempts in a short time. Wait a minute, then try again.";
    if (err.status >= 500) return "The server ran into a problem. Please try again in a moment.";
    if (err.status === 413) return "That is too large for the server to accept.";
    if (err.status === 422) {
      const first = (err.problem.errors as FieldError[] | undefined)?.[0];
      return first ? humanFieldMessage(first.msg) : "Some of what was entered is not accepted.";
    }
    return err.problem.detail || err.problem.title || `The request failed (${err.status}).`;
  }
  if (err instanceof Error) return err.message;
  return "Something went wrong.";
}
