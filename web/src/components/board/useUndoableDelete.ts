import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { errorMessage } from "../../api/errors";
import type { Task } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import type { BoardSync } from "../../live/boardSync";

/** How long a deleted task can still be brought back. */
export const UNDO_WINDOW_MS = 6000;

export interface PendingDelete {
  task: Task;
  /** Epoch ms at which the DELETE goes out. */
  dueAt: number;
}

export interface UndoableDelete {
  /** Tasks hidden here, their DELETE not sent yet. */
  pending: readonly PendingDelete[];
  hidden: ReadonlySet<string>;
  remove(task: Task): void;
  undo(taskId: string): void;
  error: string | null;
  dismissError(): void;
}

/**
 * Delete with undo, done on the client: the task disappears from this page at once and the
 * DELETE is sent when the undo window ends, or at once when the page goes away (pagehide,
 * leaving the board). Others keep seeing the task until then. Nothing is deleted on the
 * server that could not be undone, so the API needs no "restore".
 */
export function useUndoableDelete(sync: BoardSync | null): UndoableDelete {
  // (A server-side archive would let others see the undo too; v1 has none, so it waits here.)
  const api = useApi();
  const [pending, setPending] = useState<PendingDelete[]>([]);
  const [error, setError] = useState<string | null>(null);
  const timers = useRef(new Map<string, { task: Task; timer: ReturnType<typeof setTimeout> }>());

  const send = useCallback(
    (taskId: string, keepalive = false) => {
      const entry = timers.current.get(taskId);
      if (!entry) return;
      clearTimeout(entry.timer);
      timers.current.delete(taskId);
      api.tasks
        .remove(taskId, { keepalive })
        .then(() => sync?.removeLocalTask(taskId))
        .catch((err: unknown) => {
          if ((err as { status?: number }).status === 404) {
            sync?.removeLocalTask(taskId); // someone else deleted it meanwhile: same outcome
          } else {
            setError(`Couldn't delete “${entry.task.title}”: ${errorMessage(err)}`);
          }
        })
        .finally(() => setPending((list) => list.filter((p) => p.task.id !== taskId)));
    },
    [api, sync],
  );

  const remove = useCallback(
    (task: Task) => {
      if (timers.current.has(task.id)) return;
      setError(null);
      const timer = setTimeout(() => send(task.id), UNDO_WINDOW_MS);
      timers.current.set(task.id, { task, timer });
      setPending((list) => [...list, { task, dueAt: Date.now() + UNDO_WINDOW_MS }]);
    },
    [send],
  );

  const undo = useCallback((taskId: string) => {
    const entry = timers.current.get(taskId);
    if (!entry) return;
    clearTimeout(entry.timer);
    timers.current.delete(taskId);
    setPending((list) => list.filter((p) => p.task.id !== taskId));
  }, []);

  // Leaving the page or the board sends what is pending now, rather than never.
  useEffect(() => {
    const flush = () => {
      for (const id of [...timers.current.keys()]) send(id, true);
    };
    window.addEventListener("pagehide", flush);
    return () => {
      window.removeEventListener("pagehide", flush);
      flush();
    };
  }, [send]);

  const hidden = useMemo<ReadonlySet<string>>(() => new Set(pending.map((p) => p.task.id)), [pending]);

  return { pending, hidden, remove, undo, error, dismissError: () => setError(null) };
}
