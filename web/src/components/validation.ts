/**
 * Checks run in the browser before a form is sent, with the same limits as the server, so
 * the common mistakes get a plain message at once, next to their field.
 */
import { useCallback, useState } from "react";
import type { Action } from "./useAction";

export type Check = (value: string) => string | null;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;

export const required =
  (what: string): Check =>
  (value) =>
    value.trim() ? null : `Enter ${what}.`;

export const email: Check = (value) => {
  if (!value.trim()) return "Enter an email address.";
  return EMAIL.test(value.trim()) ? null : "Enter an email address like name@example.com.";
};

export const minLength =
  (n: number, what = "characters"): Check =>
  (value) =>
    value.length >= n ? null : `Use at least ${n} ${what}.`;

export const maxLength =
  (n: number): Check =>
  (value) =>
    value.trim().length <= n ? null : `Use at most ${n} characters.`;

/** The first failing check of each field. */
export function validate(values: Record<string, string>, checks: Record<string, Check[]>): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const [field, list] of Object.entries(checks)) {
    for (const check of list) {
      const message = check(values[field] ?? "");
      if (message) {
        errors[field] = message;
        break;
      }
    }
  }
  return errors;
}

/**
 * A form's field messages: the browser's own checks first, then the server's (422, or a
 * status the form maps to a field). `submit` checks, focuses the first field in error and
 * tells whether to send; editing a field clears its message.
 */
export function useFieldErrors(action: Pick<Action<never[], unknown>, "fields" | "message">, serverFields: Record<string, string> = {}) {
  const [local, setLocal] = useState<Record<string, string>>({});
  const [cleared, setCleared] = useState<Set<string>>(new Set());
  const errorOf = (field: string): string | undefined =>
    local[field] ?? (cleared.has(field) ? undefined : (serverFields[field] ?? action.fields[field]));
  const check = useCallback((form: HTMLFormElement, errors: Record<string, string>): boolean => {
    setLocal(errors);
    setCleared(new Set());
    if (Object.keys(errors).length === 0) return true;
    requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
    return false;
  }, []);
  const edited = useCallback((field: string) => {
    setLocal((l) => {
      if (!(field in l)) return l;
      const { [field]: _gone, ...rest } = l;
      return rest;
    });
    setCleared((c) => (c.has(field) ? c : new Set(c).add(field)));
  }, []);
  /** The message for the top of the form: only what no field shows. */
  const formMessage = (fields: readonly string[]): string | null => {
    const shownAtField = fields.some((f) => errorOf(f));
    const unplaced = Object.keys(action.fields).some((f) => !fields.includes(f));
    return shownAtField && !unplaced ? null : action.message;
  };
  return { errorOf, check, edited, formMessage };
}
