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

function browserSessionStorage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: tokens live in memory only
  }
}

export function createServices(baseUrl: string = apiBaseUrl()): Services {
  // Refresh calls go out without the bearer token, so they use an API without a token source.
  const anonymous = createApiWithTokens(null, baseUrl);
  const tokens = new TokenStore({
    refresh: (refreshToken) => anonymous.auth.refresh(refreshToken),
    storage: browserSessionStorage(),
  });
  const api = createApiWithTokens(tokens, baseUrl);
  const connection = new LiveConnection({ tokens, url: baseUrl, onSessionEnded: () => tokens.clear("expired") });
  return { tokens, api, connection };
}
