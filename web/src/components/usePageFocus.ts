import { useEffect, useRef } from "react";
import { useLocation } from "react-router";

/** The page a path shows: a task open over its board is still the board's page. */
function pageOf(pathname: string): string {
  return pathname.replace(/\/tasks\/[^/]+$/, "");
}

/**
 * After moving to another page, puts focus on its heading (so screen readers announce it and
 * Tab starts from the top of the content), once the heading has rendered. Not on first load,
 * and never over a focus the user has already placed.
 */
export function usePageFocus(): void {
  const { pathname } = useLocation();
  const page = pageOf(pathname);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const userMoved = () => {
      const el = document.activeElement;
      return el !== null && el !== document.body && el.id !== "main" && !el.closest("nav, header");
    };
    const tryFocus = (): boolean => {
      if (userMoved()) return true;
      const heading = document.querySelector<HTMLElement>("main h1");
      if (!heading) return false;
      heading.tabIndex = -1;
      heading.focus({ preventScroll: false });
      return true;
    };
    if (tryFocus()) return;
    const observer = new MutationObserver(() => tryFocus() && observer.disconnect());
    observer.observe(document.getElementById("main") ?? document.body, { childList: true, subtree: true });
    const timer = setTimeout(() => observer.disconnect(), 5000);
    return () => {
      observer.disconnect();
      clearTimeout(timer);
    };
  }, [page]);
}
