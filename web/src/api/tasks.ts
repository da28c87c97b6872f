import type { ApiClient } from "./client";
import type { Comment, ListPage, NewTask, Task, TaskChanges } from "./types";

export interface TaskWithVersion {
  task: Task;
  etag: string | null;
}

/** `"<version>"`, the ETag the server gives a task of that version. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** Tasks and their comments. */
export function tasksApi(client: ApiClient) {
  return {
    /** Every task of a board, in column order (pages through the whole list). */
    listForBoard: async (boardId: string, signal?: AbortSignal): Promise<Task[]> => {
      const tasks: Task[] = [];
      let cursor: string | null = null;
      do {
        const page: ListPage<Task> = await client.get<ListPage<Task>>(
          "/tasks",
          { board_id: boardId, sort: "position", limit: 200, cursor },
          signal,
        );
        tasks.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      return tasks;
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
    remove: (id: string) => client.delete(`/tasks/${encodeURIComponent(id)}`),
    comments: async (taskId: string): Promise<Comment[]> => {
      const comments: Comment[] = [];
      let cursor: string | null = null;
      do {
        const page: ListPage<Comment> = await client.get<ListPage<Comment>>(
          `/tasks/${encodeURIComponent(taskId)}/comments`,
          { limit: 200, cursor },
        );
        comments.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      return comments;
    },
    addComment: (taskId: string, body: string) =>
      client.post<Comment>(`/tasks/${encodeURIComponent(taskId)}/comments`, { body }),
    removeComment: (taskId: string, commentId: string) =>
      client.delete(`/tasks/${encodeURIComponent(taskId)}/comments/${encodeURIComponent(commentId)}`),
  };
}
