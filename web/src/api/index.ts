import { attachmentsApi } from "./attachments";
import { authApi } from "./auth";
import { boardsApi } from "./boards";
import { ApiClient, type TokenSource } from "./client";
import { notificationsApi } from "./notifications";
import { searchApi } from "./search";
import { tasksApi } from "./tasks";
import { tokensApi } from "./tokens";
import { webhooksApi } from "./webhooks";

/** The whole typed API, over one client. */
export function createApi(client: ApiClient) {
  return { auth: authApi(client), boards: boardsApi(client), tasks: tasksApi(client), attachments: attachmentsApi(client),
    notifications: notificationsApi(client), search: searchApi(client), tokens: tokensApi(client), webhooks: webhooksApi(client) };
}

export type TaskFlowApi = ReturnType<typeof createApi>;

export function createApiWithTokens(tokens: TokenSource | null, baseUrl?: string): TaskFlowApi {
  return createApi(new ApiClient(tokens, baseUrl));
}

export { ApiError, errorMessage, fieldErrors } from "./errors";
export type * from "./types";
export type * from "./notifications";
export type * from "./tokens";
export type * from "./webhooks";
