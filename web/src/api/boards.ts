import type { ApiClient } from "./client";
import type { Board, BoardColumn, EventsPage, Member, Role, Status } from "./types";

/** Boards, their members and their event log. */
export function boardsApi(client: ApiClient) {
  return {
    list: () => client.getAll<Board>("/boards", { limit: 200 }),
    get: (id: string, signal?: AbortSignal) => client.get<Board>(`/boards/${encodeURIComponent(id)}`, undefined, signal),
    create: (body: { name: string; description?: string }) => client.post<Board>("/boards", body),
    /** A new board of the caller's from a TaskFlow export or a Trello board export (JSON). */
    importFile: (file: Blob) => client.postFile<Board>("/boards/import", file),
    /** The board as a TaskFlow export (JSON) or its tasks as CSV. */
    exportFile: (id: string, format: "json" | "csv") =>
      client.blob(`/boards/${encodeURIComponent(id)}/export${format === "csv" ? "?format=csv" : ""}`),
    update: (id: string, body: { name?: string; description?: string }) =>
      client.patch<Board>(`/boards/${encodeURIComponent(id)}`, body),
    remove: (id: string) => client.delete(`/boards/${encodeURIComponent(id)}`),
    addMember: (id: string, body: { email: string; role: Role }) =>
      client.post<Member>(`/boards/${encodeURIComponent(id)}/members`, body),
    updateMember: (id: string, userId: string, role: Role) =>
      client.patch<Member>(`/boards/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`, { role }),
    removeMember: (id: string, userId: string) =>
      client.delete(`/boards/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`),
    addColumn: (id: string, body: { name: string; category: Status; wip_limit?: number | null; before_id?: string }) =>
      client.post<BoardColumn>(`/boards/${encodeURIComponent(id)}/columns`, body),
    /** Rename and/or set the WIP limit (null: none); the category never changes. */
    updateColumn: (id: string, columnId: string, body: { name?: string; wip_limit?: number | null }) =>
      client.patch<BoardColumn>(`/boards/${encodeURIComponent(id)}/columns/${encodeURIComponent(columnId)}`, body),
    orderColumns: (id: string, columnIds: string[]) =>
      client.put<{ columns: BoardColumn[] }>(`/boards/${encodeURIComponent(id)}/columns/order`, { column_ids: columnIds }),
    /** `moveTo` is required when the column holds tasks: they go to the end of that column. */
    removeColumn: (id: string, columnId: string, moveTo?: string) =>
      client.delete(`/boards/${encodeURIComponent(id)}/columns/${encodeURIComponent(columnId)}`, {
        query: { move_to: moveTo },
      }),
    events: (id: string, since: number, epoch?: string, limit = 1000) =>
      client.get<EventsPage>(`/boards/${encodeURIComponent(id)}/events`, { since, limit, epoch }),
  };
}
