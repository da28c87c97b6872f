import { useEffect, useRef } from "react";
import type { UndoableDelete } from "./useUndoableDelete";

/**
 * "Task deleted · Undo", one per pending deletion, at the bottom of the screen. Focus moves
 * to the newest Undo button (the dialog that had it just closed); when that toast goes,
 * focus goes back to the page rather than being dropped on the body.
 */
export function UndoToasts({ deletes }: { deletes: UndoableDelete }) {
  const region = useRef<HTMLDivElement>(null);
  const newest = deletes.pending.at(-1)?.task.id;
  useEffect(() => {
    if (!newest) return;
    // The task dialog may still be closing (modal: the rest of the page is inert until it goes).
    let frame = 0;
    let tries = 0;
    const attempt = () => {
      const button = region.current?.querySelector<HTMLButtonElement>(`[data-undo="${CSS.escape(newest)}"]`);
      button?.focus();
      if (button && document.activeElement !== button && ++tries < 30) frame = requestAnimationFrame(attempt);
    };
    attempt();
    return () => cancelAnimationFrame(frame);
  }, [newest]);
  const count = useRef(deletes.pending.length);
  useEffect(() => {
    const fewer = deletes.pending.length < count.current;
    count.current = deletes.pending.length;
    if (fewer && (!document.activeElement || document.activeElement === document.body)) {
      document.querySelector<HTMLElement>("main h1")?.focus();
    }
  }, [deletes.pending.length]);
  return (
    <div className="toasts" ref={region} aria-live="polite">
      {deletes.error && (
        <div className="toast toast-error" role="alert">
          {deletes.error}
          <button type="button" className="button-secondary" onClick={deletes.dismissError}>
            Dismiss
          </button>
        </div>
      )}
      {deletes.pending.map((p) => (
        <div className="toast" key={p.task.id} data-testid="undo-toast">
          <span>Deleted “{p.task.title}”.</span>
          <button type="button" data-undo={p.task.id} onClick={() => deletes.undo(p.task.id)}>
            Undo
          </button>
        </div>
      ))}
    </div>
  );
}
