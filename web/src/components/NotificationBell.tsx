import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { useNavigate } from "react-router";
import type { AppNotification } from "../api/notifications";
import { errorMessage } from "../api/errors";
import { useApi, useServices } from "../app/ServicesContext";
import { describe, EMPTY, notificationsReducer } from "../notifications/state";
import { Alert } from "./Alert";

/**
 * The bell in the header: the unread count, kept live by `notification:created` (and by
 * `notification:read` from the user's other tabs), and a panel listing the notifications,
 * unread first. Opening one marks it read and opens its task (or, for a disabled webhook, the
 * board's Webhooks settings).
 */
export function NotificationBell() {
  const api = useApi();
  const { connection } = useServices();
  const navigate = useNavigate();
  const [state, dispatch] = useReducer(notificationsReducer, EMPTY);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const button = useRef<HTMLButtonElement>(null);

  const load = useCallback(() => {
    api.notifications
      .list({ limit: 50 })
      .then((page) => {
        setError(null);
        dispatch({ type: "loaded", items: page.items, unread: page.unread_count });
      })
      .catch((err: unknown) => setError(errorMessage(err)));
  }, [api]);

  useEffect(() => {
    load();
    const offs = [
      // After a reconnect, whatever was pushed meanwhile is read from the list.
      connection.onConnect(load),
      connection.on("notification:created", (payload) => {
        const notification = (payload as { notification?: AppNotification } | null)?.notification;
        if (notification) dispatch({ type: "created", notification });
      }),
      connection.on("notification:read", (payload) => {
        const p = payload as { ids?: string[]; all?: boolean } | null;
        dispatch({ type: "read", ids: p?.all ? "all" : (p?.ids ?? []), at: new Date().toISOString() });
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [connection, load]);

  const openOne = (n: AppNotification) => {
    setOpen(false);
    if (n.read_at === null) {
      dispatch({ type: "read", ids: [n.id], at: new Date().toISOString() });
      api.notifications.read(n.id).catch((err: unknown) => setError(errorMessage(err)));
    }
    const board = `/boards/${encodeURIComponent(n.board_id)}`;
    // About the board: its Webhooks section, in the settings, is where the owner acts on it.
    void navigate(n.task_id === null ? `${board}#webhooks` : `${board}/tasks/${encodeURIComponent(n.task_id)}`);
  };
  const readAll = () => {
    dispatch({ type: "read", ids: "all", at: new Date().toISOString() });
    api.notifications.readAll().catch((err: unknown) => setError(errorMessage(err)));
  };

  const unread = state.unread;
  return (
    <div className="notifications">
      <button ref={button} type="button" className="bell" aria-expanded={open} aria-controls="notification-panel"
        aria-label={`Notifications, ${unread} unread`} data-testid="notification-bell"
        onClick={() => setOpen((v) => !v)}>
        <span aria-hidden="true">🔔</span>
        {unread > 0 && (
          <span className="bell-count" data-testid="notification-count" aria-hidden="true">
            {unread > 99 ? "99+" : unread}
          </span>
        )}
      </button>
      {open && (
        <section id="notification-panel" className="notification-panel" aria-labelledby="notification-heading"
          onKeyDown={(e) => {
            if (e.key === "Escape") {
              setOpen(false);
              button.current?.focus();
            }
          }}>
          <div className="notification-head">
            <h2 id="notification-heading">Notifications</h2>
            <button type="button" className="link-button" onClick={readAll} disabled={unread === 0}>
              Mark all read
            </button>
          </div>
          <Alert>{error}</Alert>
          {state.loaded && state.items.length === 0 && <p className="muted">Nothing yet.</p>}
          <ul className="notification-list">
            {state.items.map((n) => (
              <li key={n.id} className={n.read_at === null ? "unread" : undefined}>
                <button type="button" className="notification-item" onClick={() => openOne(n)}>
                  <span className="notification-what">
                    {n.read_at === null && <span className="visually-hidden">Unread: </span>}
                    {describe(n)}
                  </span>
                  <span className="notification-summary">{n.summary}</span>
                  <time dateTime={n.created_at}>{new Date(n.created_at).toLocaleString()}</time>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
