import { useEffect } from "react";

/** Sets the document title, so screen readers and tabs tell pages apart. */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · TaskFlow` : "TaskFlow";
  }, [title]);
}
