import type { ApiClient } from "./client";
import type { Board, EventsPage, ListPage, Member, Role } from "./types";

/** Boards, their members and their event log. */
export function boardsApi(client: ApiClient) {
  return {
    list: async (): Promise<Board[]> => {
      const boards: Board[] = [];
      let cursor: string | null = null;
      do {
        const page: ListPage<Board> = await client.get<ListPage<Board>>("/boards", { limit: 200, cursor });
        boards.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      return boards;
    },
    get: (id: string, signal?: AbortSignal) => client.get<Board>(`/boards/${encodeURIComponent(id)}`, undefined, signal),
    create: (body: { name: string; description?: string }) => client.post<Board>("/boards", body),
    update: (id: string, body: { name?: string; description?: string }) =>
      client.patch<Board>(`/boards/${encodeURIComponent(id)}`, body),
    remove: (id: string) => client.delete(`/boards/${encodeURIComponent(id)}`),
    addMember: (id: string, body: { email: string; role: Role }) =>
      client.post<Member>(`/boards/${encodeURIComponent(id)}/members`, body),
    updateMember: (id: string, userId: string, role: Role) =>
      client.patch<Member>(`/boards/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`, { role }),
    removeMember: (id: string, userId: string) =>
      client.delete(`/boards/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`),
    events: (id: string, since: number, limit = 1000) =>
      client.get<EventsPage>(`/boards/${encodeURIComponent(id)}/events`, { since, limit }),
  };
}
