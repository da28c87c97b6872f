import type { ApiClient } from "./client";
import type { SearchPage } from "./types";

/** GET /search: tasks across every board the caller is a member of. */
export function searchApi(client: ApiClient) {
  return {
    search: (q: string, opts: { cursor?: string | null; limit?: number; signal?: AbortSignal } = {}) =>
      client.get<SearchPage>("/search", { q, limit: opts.limit ?? 50, cursor: opts.cursor ?? null }, opts.signal),
  };
}
