import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { useResuming, useSession } from "../app/ServicesContext";

/** Sends signed-out visitors to the sign-in page, remembering where they were going. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const session = useSession();
  const resuming = useResuming();
  const location = useLocation();
  if (!session && resuming) return <p className="loading">Loading…</p>;
  if (!session) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}
