/** What the board's Webhooks section shows and checks, apart from React. */
import { BOARD_EVENT_TYPES, type BoardEventType } from "../api/types";
import { ALL_EVENTS, type Webhook } from "../api/webhooks";
import type { Check } from "../components/validation";

/** "All events" for `["*"]` (or an empty list), else the types, comma-separated. */
export function eventsLabel(events: readonly string[]): string {
  if (events.length === 0 || events.includes(ALL_EVENTS)) return "All events";
  return events.join(", ");
}

/** The `events` to send: `["*"]` for all, else the chosen types in the board's order. */
export function eventsToSend(all: boolean, chosen: ReadonlySet<string>): Webhook["events"] {
  if (all) return [ALL_EVENTS];
  return BOARD_EVENT_TYPES.filter((t: BoardEventType) => chosen.has(t));
}

/** The browser's check of a receiver URL (the server checks the address itself). */
export const webhookUrl: Check = (value) => {
  const url = value.trim();
  if (!url) return "Enter the URL that receives the events.";
  if (!/^https?:\/\//i.test(url)) return "Enter a URL that starts with http:// or https://.";
  if (url.length > 2000) return "Use at most 2000 characters.";
  return null;
};

export type WebhookState =
  | { kind: "active" }
  | { kind: "failing"; since: string; nextAttempt: string | null }
  | { kind: "disabled"; reason: string | null };

/** Active, failing (being retried) or disabled (by the owner, or by the server: with its reason). */
export function webhookState(w: Pick<Webhook, "active" | "failing_since" | "next_attempt_at" | "disabled_reason">): WebhookState {
  if (!w.active) return { kind: "disabled", reason: w.disabled_reason?.trim() || null };
  if (w.failing_since) return { kind: "failing", since: w.failing_since, nextAttempt: w.next_attempt_at };
  return { kind: "active" };
}
