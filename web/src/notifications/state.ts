/**
 * The notification list of the signed-in user as the bell shows it: unread first, then newest
 * first (the server's order), kept current by `notification:created` and `notification:read`.
 */
import type { AppNotification } from "../api/notifications";

export interface NotificationState {
  items: AppNotification[];
  unread: number;
  loaded: boolean;
}

export const EMPTY: NotificationState = { items: [], unread: 0, loaded: false };

export type NotificationAction =
  | { type: "loaded"; items: AppNotification[]; unread: number }
  | { type: "created"; notification: AppNotification }
  | { type: "read"; ids: string[] | "all"; at: string };

/** Unread before read, then newest first, then id descending (as the server sorts). */
export function compareNotifications(a: AppNotification, b: AppNotification): number {
  const ra = a.read_at === null ? 0 : 1;
  const rb = b.read_at === null ? 0 : 1;
  if (ra !== rb) return ra - rb;
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function notificationsReducer(state: NotificationState, action: NotificationAction): NotificationState {
  switch (action.type) {
    case "loaded":
      return { items: [...action.items].sort(compareNotifications), unread: action.unread, loaded: true };
    case "created": {
      if (state.items.some((n) => n.id === action.notification.id)) return state;
      const items = [action.notification, ...state.items].sort(compareNotifications);
      return { ...state, items, unread: state.unread + (action.notification.read_at === null ? 1 : 0) };
    }
    case "read": {
      const wanted = action.ids === "all" ? null : new Set(action.ids);
      let changed = 0;
      const items = state.items.map((n) => {
        if (n.read_at !== null || (wanted && !wanted.has(n.id))) return n;
        changed += 1;
        return { ...n, read_at: action.at };
      });
      // "all" clears the count even for unread ones beyond the loaded page.
      const unread = action.ids === "all" ? 0 : Math.max(0, state.unread - changed);
      return { ...state, items: items.sort(compareNotifications), unread };
    }
  }
}

/** What a notification says, in a few words. */
export function describe(n: AppNotification): string {
  const who = n.actor?.name || "Someone";
  switch (n.type) {
    case "mentioned":
      return `${who} mentioned you`;
    case "assigned":
      return `${who} assigned you a task`;
    case "commented":
      return `${who} commented`;
    case "task_updated":
      return `${who} changed a task`;
    case "task_created":
      return `${who} added a task`;
    case "webhook_disabled":
      return "A webhook of your board was disabled";
  }
}

/** `@[Name]`: the mention syntax that works for any name (spaces included). */
export function mentionOf(name: string): string {
  return `@[${name.replace(/[\]\n]/g, " ").trim()}]`;
}

/** `text` with a mention of `name` inserted at `caret`, and where the caret goes after it. */
export function insertMention(text: string, caret: number, name: string): { text: string; caret: number } {
  const at = Math.max(0, Math.min(caret, text.length));
  const before = text.slice(0, at);
  const after = text.slice(at);
  const lead = before === "" || /\s$/.test(before) ? "" : " ";
  const mention = `${lead}${mentionOf(name)} `;
  return { text: before + mention + after.replace(/^ /, ""), caret: at + mention.length };
}
