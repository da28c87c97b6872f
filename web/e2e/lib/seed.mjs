// Builds big boards through the public REST API, with the server's rate limits on.
//
// There is no bulk endpoint: tasks are created one POST at a time, several in flight. The
// per-user API limit (600/minute by default) is respected by spreading the POSTs over
// enough editor accounts that none of them passes `perUser` requests.

/** Registers a user through the API; returns the session (user, tokens). */
export async function register(server, { name, email, password }) {
  return server.api("POST", "/auth/register", { body: { name, email, password } });
}

/**
 * Creates `count` tasks on `boardId`, `statusOf(i)` deciding each one's column, through
 * `writers` (access tokens of editors), at most `perUser` POSTs each, `concurrency` in flight.
 * Titles are `Task <i>`. Resolves to the milliseconds it took.
 */
export async function createTasks(server, { boardId, count, writers, statusOf, perUser = 560, concurrency = 12 }) {
  if (writers.length * perUser < count) throw new Error(`${writers.length} writers can't create ${count} tasks at ${perUser} each`);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const token = writers[Math.floor(i / perUser)];
        await server.api("POST", "/tasks", { token, body: { board_id: boardId, title: `Task ${i}`, status: statusOf(i) } });
      }
    }),
  );
  return Math.round(performance.now() - started);
}

/** An owner, a board and `writerCount` editors on it; returns their tokens and the board. */
export async function boardWithWriters(server, { run, writerCount, password = "seed password 1" }) {
  const owner = await register(server, { name: "Olive Owner", email: `olive-${run}@example.com`, password });
  const board = await server.api("POST", "/boards", { token: owner.access_token, body: { name: "Big board" } });
  const writers = [];
  for (let i = 0; i < writerCount; i++) {
    const email = `writer${i}-${run}@example.com`;
    const session = await register(server, { name: `Writer ${i}`, email, password });
    await server.api("POST", `/boards/${board.id}/members`, { token: owner.access_token, body: { email, role: "editor" } });
    writers.push(session.access_token);
  }
  return { owner: { ...owner, email: `olive-${run}@example.com`, password }, board, writers };
}
