import { createContext, useContext, useEffect, useSyncExternalStore, type ReactNode } from "react";
import type { User } from "../api/types";
import type { StoredSession } from "../auth/tokenStore";
import type { ConnectionStatus } from "../live/connection";
import type { Services } from "./services";

const ServicesContext = createContext<Services | null>(null);

/** Provides the services and keeps the live connection open exactly while someone is signed in. */
export function ServicesProvider({ services, children }: { services: Services; children: ReactNode }) {
  const session = useSyncExternalStore(
    (fn) => services.tokens.subscribe(fn),
    () => services.tokens.session,
  );
  const signedIn = session !== null;
  useEffect(() => {
    if (!signedIn) return;
    services.connection.start();
    return () => services.connection.stop();
  }, [signedIn, services]);
  return <ServicesContext.Provider value={services}>{children}</ServicesContext.Provider>;
}

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside ServicesProvider");
  return services;
}

export function useApi() {
  return useServices().api;
}

export function useSession(): StoredSession | null {
  const { tokens } = useServices();
  return useSyncExternalStore(
    (fn) => tokens.subscribe(fn),
    () => tokens.session,
  );
}

/** True while start-up looks for a session to resume (a reload, a new tab). */
export function useResuming(): boolean {
  const { tokens } = useServices();
  return useSyncExternalStore(
    (fn) => tokens.subscribe(fn),
    () => tokens.resuming,
  );
}

/** The signed-in user; only for pages behind RequireAuth. */
export function useMe(): User {
  const session = useSession();
  if (!session) throw new Error("useMe without a session");
  return session.user;
}

export function useConnectionStatus(): ConnectionStatus {
  const { connection } = useServices();
  return useSyncExternalStore(
    (fn) => connection.subscribeStatus(fn),
    () => connection.status,
  );
}
