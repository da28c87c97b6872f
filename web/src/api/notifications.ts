import type { ApiClient } from "./client";

export type NotificationType =
  | "mentioned"
  | "assigned"
  | "commented"
  | "task_updated"
  | "task_created"
  | "webhook_disabled";

export interface AppNotification {
  id: string;
  type: NotificationType;
  board_id: string;
  /** null: about the board (a webhook TaskFlow disabled), not a task. */
  task_id: string | null;
  /** null: TaskFlow made it, not a member's write. */
  actor: { user_id: string; name: string } | null;
  created_at: string;
  read_at: string | null;
  summary: string;
}

export interface NotificationPage {
  items: AppNotification[];
  next_cursor: string | null;
  unread_count: number;
}

export interface WatchItem {
  board_id: string;
  task_id: string | null;
  created_at: string;
}

/** Notifications of the signed-in user, and what they watch. */
export function notificationsApi(client: ApiClient) {
  return {
    list: (opts: { limit?: number; cursor?: string | null; unread?: boolean } = {}) =>
      client.get<NotificationPage>("/notifications", {
        limit: opts.limit ?? 50,
        cursor: opts.cursor ?? null,
        unread: opts.unread ? "true" : undefined,
      }),
    read: (id: string) => client.post<AppNotification>(`/notifications/${encodeURIComponent(id)}/read`),
    readAll: () => client.post<{ updated: number }>("/notifications/read-all"),
    /** Every watch of the caller on one board (the board's own, with task_id null, and its tasks'). */
    watchesOnBoard: (boardId: string) => client.getAll<WatchItem>("/users/me/watches", { board_id: boardId, limit: 200 }),
    watchTask: (taskId: string) => client.request<void>("PUT", `/tasks/${encodeURIComponent(taskId)}/watch`).then(() => undefined),
    unwatchTask: (taskId: string) => client.delete(`/tasks/${encodeURIComponent(taskId)}/watch`),
    watchBoard: (boardId: string) => client.request<void>("PUT", `/boards/${encodeURIComponent(boardId)}/watch`).then(() => undefined),
    unwatchBoard: (boardId: string) => client.delete(`/boards/${encodeURIComponent(boardId)}/watch`),
  };
}
