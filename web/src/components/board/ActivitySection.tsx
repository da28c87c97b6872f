import { useEffect, useRef, useState } from "react";
import type { ActivityEntry, Member } from "../../api/types";
import { errorMessage } from "../../api/errors";
import { useApi } from "../../app/ServicesContext";
import { describeChange, describeEntry, mergeActivity } from "../../board/checklist";
import { Alert } from "../Alert";

interface Props {
  taskId: string;
  members: Member[];
  /** Changes whenever an event of this task arrives (board/checklist.ts activityKey). */
  liveKey: string;
}

/**
 * Who changed what and when, newest first. The first page is read again whenever an event
 * of this task arrives (no polling); "Show older" follows the cursor.
 */
export function ActivitySection({ taskId, members, liveKey }: Props) {
  const api = useApi();
  const [entries, setEntries] = useState<ActivityEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  // Older pages already read stay; a refetch of the first page only adds what is new.
  const readOlder = useRef(false);
  // The task shown now: an older page that arrives after the dialog moved on is dropped.
  const shown = useRef(taskId);
  shown.current = taskId;

  useEffect(() => {
    let cancelled = false;
    api.tasks
      .activity(taskId)
      .then((page) => {
        if (cancelled) return;
        setError(null);
        setEntries((current) => (current ? mergeActivity(current, page.items) : page.items));
        if (!readOlder.current) setCursor(page.next_cursor);
      })
      .catch((err: unknown) => !cancelled && setError(errorMessage(err)));
    return () => {
      cancelled = true;
    };
  }, [api, taskId, liveKey]);

  const more = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await api.tasks.activity(taskId, cursor);
      if (shown.current !== taskId) return;
      readOlder.current = true;
      setEntries((current) => mergeActivity(current ?? [], page.items));
      setCursor(page.next_cursor);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setLoadingMore(false);
    }
  };

  const headingId = `activity-${taskId}`;
  return (
    <section className="activity" aria-labelledby={headingId} data-testid="activity">
      <h3 id={headingId}>Activity</h3>
      <Alert>{error}</Alert>
      {entries === null && !error && <p className="loading">Loading activity…</p>}
      {entries && entries.length === 0 && <p className="muted">No activity yet.</p>}
      {entries && entries.length > 0 && (
        <ol className="activity-list" aria-live="polite">
          {entries.map((e) => (
            <li key={e.seq} data-testid="activity-entry">
              <p className="activity-head">
                <strong>{e.actor.name || "Someone"}</strong> {describeEntry(e)}{" "}
                <time dateTime={e.at}>{new Date(e.at).toLocaleString()}</time>
              </p>
              {e.changes.length > 0 && (
                <ul className="activity-changes">
                  {e.changes.map((c, i) => (
                    <li key={i}>{describeChange(c, members)}</li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ol>
      )}
      {cursor && (
        <button type="button" className="button-secondary" disabled={loadingMore} onClick={() => void more()}>
          {loadingMore ? "Loading…" : "Show older activity"}
        </button>
      )}
    </section>
  );
}
