import { useConnectionStatus } from "../app/ServicesContext";

const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
} as const;

/** Shows whether live updates are flowing. */
export function ConnectionBadge() {
  const status = useConnectionStatus();
  return (
    <span className={`connection connection-${status}`} role="status" data-status={status} data-testid="connection-status">
      <span className="connection-dot" aria-hidden="true" />
      {LABELS[status]}
    </span>
  );
}
