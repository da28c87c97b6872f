import type { ApiClient } from "./client";

/** `read`: every GET; `write`: tasks, comments, checklists, attachments too; `admin`: everything. */
export type TokenScope = "read" | "write" | "admin";

/** A personal access token as listed: never its secret. */
export interface PersonalToken {
  id: string;
  name: string;
  scopes: TokenScope[];
  created_at: string;
  expires_at: string;
  last_used_at?: string | null;
}

/** What creating one returns: the secret (`tfp_...`), shown this once. */
export interface NewPersonalToken extends PersonalToken {
  token: string;
}

/** The scopes each level of access sends: each level includes the ones below it. */
export const ACCESS_SCOPES: Record<TokenScope, TokenScope[]> = {
  read: ["read"],
  write: ["read", "write"],
  admin: ["read", "write", "admin"],
};

/** The highest level of access a token's scopes give. */
export function accessOf(scopes: TokenScope[]): TokenScope {
  return scopes.includes("admin") ? "admin" : scopes.includes("write") ? "write" : "read";
}

/** Personal access tokens for scripts and integrations (`/users/me/tokens`). */
export function tokensApi(client: ApiClient) {
  return {
    /** Every token of the caller, following the cursor. */
    list: () => client.getAll<PersonalToken>("/users/me/tokens", { limit: 100 }),
    create: (body: { name: string; scopes: TokenScope[]; expires_in_days: number }) =>
      client.post<NewPersonalToken>("/users/me/tokens", body),
    revoke: (id: string) => client.delete(`/users/me/tokens/${encodeURIComponent(id)}`),
  };
}
