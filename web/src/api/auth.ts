import type { ApiClient } from "./client";
import type { Session, User } from "./types";

export interface ProfileChanges {
  name?: string;
  email?: string;
  password?: string;
  current_password?: string;
}

/** Sign-up, sign-in, token rotation and the profile. */
export function authApi(client: ApiClient) {
  return {
    register: (body: { email: string; password: string; name: string }) =>
      client.post<Session>("/auth/register", body, { auth: false }),
    login: (body: { email: string; password: string }) => client.post<Session>("/auth/login", body, { auth: false }),
    /**
     * Rotates the refresh token held in the HttpOnly cookie (sent by the browser, never read here).
     * `keepalive`: a reload or navigation doesn't cancel it half-way, which would leave the old,
     * now spent, cookie in place for the next page to reuse (and the server to revoke the login).
     */
    refresh: () => client.post<Session>("/auth/refresh", {}, { auth: false, keepalive: true }),
    /** Ends this login (the cookie says which) and clears the cookie. */
    logout: (accessToken: string) =>
      client.post<void>("/auth/logout", {}, { auth: false, headers: { Authorization: `Bearer ${accessToken}` } }),
    me: () => client.get<User>("/users/me"),
    updateMe: (changes: ProfileChanges) => client.patch<User>("/users/me", changes),
    /** Deletes the account for good: every login ends, boards owned alone go. */
    deleteMe: (currentPassword: string) => client.delete("/users/me", { body: { current_password: currentPassword } }),
  };
}
