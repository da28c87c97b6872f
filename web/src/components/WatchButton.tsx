import { useEffect, useState } from "react";
import { errorMessage } from "../api/errors";
import { useApi } from "../app/ServicesContext";
import { Alert } from "./Alert";

interface Props {
  boardId: string;
  /** A task's watch; without it, the whole board's. */
  taskId?: string;
}

/**
 * Watch or stop watching a task (comments and changes) or a board (also new tasks). The
 * state is read from the caller's watches on the board.
 */
export function WatchButton({ boardId, taskId }: Props) {
  const api = useApi();
  const [watching, setWatching] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let cancelled = false;
    api.notifications
      .watchesOnBoard(boardId)
      .then((items) => !cancelled && setWatching(items.some((w) => w.task_id === (taskId ?? null))))
      .catch((err: unknown) => !cancelled && setError(errorMessage(err)));
    return () => {
      cancelled = true;
    };
  }, [api, boardId, taskId]);

  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      const n = api.notifications;
      if (watching) await (taskId ? n.unwatchTask(taskId) : n.unwatchBoard(boardId));
      else await (taskId ? n.watchTask(taskId) : n.watchBoard(boardId));
      setWatching(!watching);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const what = taskId ? "task" : "board";
  return (
    <span className="watch">
      <button type="button" className="button-secondary" aria-pressed={watching ?? false}
        disabled={watching === null || busy} onClick={() => void toggle()} data-testid={`watch-${what}`}>
        {watching ? `Watching ${what}` : `Watch ${what}`}
      </button>
      <Alert>{error}</Alert>
    </span>
  );
}
