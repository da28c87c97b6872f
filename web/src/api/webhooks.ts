import type { ApiClient } from "./client";
import type { BoardEventType } from "./types";

/** Every board event type: what `events: ["*"]` (or an empty list) means. */
export const ALL_EVENTS = "*";

/** A board's outgoing webhook as listed: never its secret. */
export interface Webhook {
  id: string;
  board_id: string;
  url: string;
  /** `["*"]` for every type, else the board event types sent. */
  events: (BoardEventType | typeof ALL_EVENTS)[];
  active: boolean;
  /** Why delivery stopped (the last error, the event and the times), when the server disabled it. */
  disabled_reason: string | null;
  /** The board event seq delivered last. */
  last_delivered_seq: number;
  failing_since: string | null;
  next_attempt_at: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** What creating one returns: the signing secret (`whsec_...`), shown this once. */
export interface NewWebhook extends Webhook {
  secret: string;
}

/** One attempt at sending one event. */
export interface WebhookDelivery {
  id: string;
  seq: number;
  event_type: string;
  /** The `webhook-id` header sent: the same on every attempt at one event. */
  webhook_id_header: string;
  status: "succeeded" | "failed";
  response_code: number | null;
  duration_ms: number;
  /** 1 for the first attempt at this event. */
  attempt: number;
  error: string | null;
  at: string;
}

export interface DeliveryPage {
  items: WebhookDelivery[];
  next_cursor: string | null;
}

export interface WebhookChanges {
  url?: string;
  events?: Webhook["events"];
  active?: boolean;
}

/** A board owner's outgoing webhooks (`/boards/{id}/webhooks`). */
export function webhooksApi(client: ApiClient) {
  const base = (boardId: string) => `/boards/${encodeURIComponent(boardId)}/webhooks`;
  const one = (boardId: string, id: string) => `${base(boardId)}/${encodeURIComponent(id)}`;
  return {
    /** Every webhook of the board, oldest first, following the cursor. */
    list: (boardId: string) => client.getAll<Webhook>(base(boardId), { limit: 100 }),
    create: (boardId: string, body: { url: string; events: Webhook["events"] }) => client.post<NewWebhook>(base(boardId), body),
    update: (boardId: string, id: string, changes: WebhookChanges) => client.patch<Webhook>(one(boardId, id), changes),
    remove: (boardId: string, id: string) => client.delete(one(boardId, id)),
    /** The last deliveries, newest first (one page). */
    deliveries: (boardId: string, id: string, limit = 20) =>
      client.get<DeliveryPage>(`${one(boardId, id)}/deliveries`, { limit }).then((page) => page.items),
  };
}
