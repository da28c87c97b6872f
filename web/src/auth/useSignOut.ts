import { useCallback } from "react";
import { useNavigate } from "react-router";
import { useServices } from "../app/ServicesContext";

/** Revokes this login on the server (best effort), then forgets the tokens. */
export function useSignOut(): () => Promise<void> {
  const { tokens, api } = useServices();
  const navigate = useNavigate();
  return useCallback(async () => {
    const session = tokens.session;
    if (session) {
      try {
        const access = (await tokens.accessToken()) ?? session.accessToken;
        await api.auth.logout(access);
      } catch {
        // Signing out locally must work even when the server can't be reached.
      }
    }
    tokens.clear("signed-out");
    navigate("/login", { replace: true });
  }, [tokens, api, navigate]);
}
