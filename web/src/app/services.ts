/**
 * The app's long-lived collaborators, built once at start-up (in main.tsx, not at import):
 * the token store, the typed API over it, and the live connection.
 */
import { createApiWithTokens, type TaskFlowApi } from "../api";
import { apiBaseUrl } from "../api/client";
import { TokenStore } from "../auth/tokenStore";
import { LiveConnection } from "../live/connection";

export interface Services {
  tokens: TokenStore;
  api: TaskFlowApi;
  connection: LiveConnection;
}

/** Tabs of this origin take turns to refresh (a refresh token is spent by its first use). */
function acrossTabs<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  return locks ? (locks.request("taskflow-refresh", fn) as Promise<T>) : fn();
}

export function createServices(baseUrl: string = apiBaseUrl()): Services {
  // Refresh calls go out without the bearer token, so they use an API without a token source.
  const anonymous = createApiWithTokens(null, baseUrl);
  const tokens = new TokenStore({ refresh: () => anonymous.auth.refresh(), exclusive: acrossTabs });
  const api = createApiWithTokens(tokens, baseUrl);
  const connection = new LiveConnection({ tokens, url: baseUrl, onSessionEnded: () => tokens.clear("expired") });
  // Signing out in one tab ends the login for all of them (they share the cookie): tell them now.
  if (typeof BroadcastChannel !== "undefined") {
    const channel = new BroadcastChannel("taskflow-auth");
    channel.onmessage = (e) => e.data === "signed-out" && tokens.clear("signed-out");
    tokens.subscribe((_session, reason) => {
      if (reason === "ended" && (tokens.endedBecause === "signed-out" || tokens.endedBecause === "deleted")) {
        channel.postMessage("signed-out");
      }
    });
  }
  void tokens.resume();
  return { tokens, api, connection };
}
