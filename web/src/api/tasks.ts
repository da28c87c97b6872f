import type { ApiClient } from "./client";
import type { ActivityEntry, ChecklistItem, Comment, ListPage, NewTask, Status, Task, TaskChanges } from "./types";
import { STATUSES } from "./types";

export interface TaskWithVersion {
  task: Task;
  etag: string | null;
}

/** `"<version>"`, the ETag the server gives a task of that version. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** The first page of each column is small, so the top of the board shows quickly. */
const FIRST_PAGE = 60;

/** Tasks and their comments. */
export function tasksApi(client: ApiClient) {
  return {
    /**
     * Every task of a board, delivered page by page as it arrives: one stream per status
     * column, in column order, run side by side, so the top of each column shows first.
     */
    streamForBoard: async (
      boardId: string,
      onPage: (tasks: Task[]) => void,
      signal?: AbortSignal,
    ): Promise<void> => {
      const column = async (status: Status) => {
        let cursor: string | null = null;
        let limit = FIRST_PAGE;
        do {
          const page: ListPage<Task> = await client.get<ListPage<Task>>(
            "/tasks",
            { board_id: boardId, status, sort: "position", limit, cursor },
            signal,
          );
          onPage(page.items);
          cursor = page.next_cursor;
          limit = 200;
        } while (cursor);
      };
      await Promise.all(STATUSES.map(column));
    },
    get: (id: string) => client.get<Task>(`/tasks/${encodeURIComponent(id)}`),
    create: (body: NewTask) => client.post<Task>("/tasks", body),
    /** PATCH a task; with `ifMatch` the server answers 412 (carrying `current`) if it changed meanwhile. */
    update: (id: string, changes: TaskChanges, ifMatch?: number) =>
      client.patch<Task>(
        `/tasks/${encodeURIComponent(id)}`,
        changes,
        ifMatch === undefined ? {} : { headers: { "If-Match": etagOf(ifMatch) } },
      ),
    remove: (id: string, opts: { keepalive?: boolean } = {}) => client.delete(`/tasks/${encodeURIComponent(id)}`, opts),
    comments: (taskId: string) => client.getAll<Comment>(`/tasks/${encodeURIComponent(taskId)}/comments`, { limit: 200 }),
    addComment: (taskId: string, body: string) =>
      client.post<Comment>(`/tasks/${encodeURIComponent(taskId)}/comments`, { body }),
    removeComment: (taskId: string, commentId: string) =>
      client.delete(`/tasks/${encodeURIComponent(taskId)}/comments/${encodeURIComponent(commentId)}`),
    addChecklistItem: (taskId: string, text: string) =>
      client.post<ChecklistItem>(`/tasks/${encodeURIComponent(taskId)}/checklist`, { text }),
    updateChecklistItem: (taskId: string, itemId: string, changes: Partial<Omit<ChecklistItem, "id">>) =>
      client.patch<ChecklistItem>(
        `/tasks/${encodeURIComponent(taskId)}/checklist/${encodeURIComponent(itemId)}`,
        changes,
      ),
    removeChecklistItem: (taskId: string, itemId: string) =>
      client.delete(`/tasks/${encodeURIComponent(taskId)}/checklist/${encodeURIComponent(itemId)}`),
    /** One page of a task's activity, newest first. */
    activity: (taskId: string, cursor: string | null = null, limit = 20) =>
      client.get<ListPage<ActivityEntry>>(`/tasks/${encodeURIComponent(taskId)}/activity`, { limit, cursor }),
  };
}
