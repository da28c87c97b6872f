/**
 * Wraps a reload so that calls arriving while one runs cause exactly one more run after it:
 * a burst of notices costs two requests at most, and the last one always sees the latest state.
 */
export function coalesce(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  const loop = async (): Promise<void> => {
    try {
      do {
        again = false;
        await run().catch(() => undefined);
      } while (again);
    } finally {
      running = null;
    }
  };
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = loop();
    return running;
  };
}
