import { useCallback, useRef, useState } from "react";
import { errorMessage, fieldErrors } from "../api/errors";

export interface Action<A extends unknown[], R> {
  run: (...args: A) => Promise<R | undefined>;
  pending: boolean;
  error: unknown;
  /** The message to show (problem detail or title), or null. */
  message: string | null;
  /** 422 field messages by field name. */
  fields: Record<string, string>;
  reset: () => void;
}

/** Runs an async call for a form or button: tracks pending, keeps the error for display. */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>): Action<A, R> {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async (...args: A) => {
    setPending(true);
    setError(null);
    try {
      return await fnRef.current(...args);
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setPending(false);
    }
  }, []);
  const reset = useCallback(() => setError(null), []);
  return {
    run,
    pending,
    error,
    message: error ? errorMessage(error) : null,
    fields: fieldErrors(error),
    reset,
  };
}
