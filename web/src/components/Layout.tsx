import { Suspense } from "react";
import { Link, NavLink, Outlet } from "react-router";
import { useSession } from "../app/ServicesContext";
import { useSignOut } from "../auth/useSignOut";
import { ConnectionBadge } from "./ConnectionBadge";
import { NotificationBell } from "./NotificationBell";
import { usePageFocus } from "./usePageFocus";

/** Header, navigation and the page; a skip link lets keyboard users jump past the header. */
export function Layout() {
  const session = useSession();
  const signOut = useSignOut();
  usePageFocus();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to="/" className="brand">
          TaskFlow
        </Link>
        {session && (
          <nav aria-label="Main">
            <NavLink to="/boards">Boards</NavLink>
            <NavLink to="/search">Search</NavLink>
            <NavLink to="/profile">Profile</NavLink>
          </nav>
        )}
        <div className="header-end">
          {session && <ConnectionBadge />}
          {session && <NotificationBell />}
          {session && (
            <>
              <span className="signed-in-as">{session.user.name}</span>
              <button type="button" className="button-secondary" onClick={() => void signOut()}>
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p className="loading">Loading…</p>}>
          <Outlet />
        </Suspense>
      </main>
    </>
  );
}
