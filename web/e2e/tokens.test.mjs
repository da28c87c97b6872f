// Short-lived access tokens (the server's minimum lifetime is 10 s): the page keeps
// refreshing them (rotation) for REST and for its live connection, which stays live
// through several token lifetimes without dropping, and keeps receiving events.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { serverAndBrowser, skipUnlessRunnable } from "./lib/harness.mjs";
import { waitFor } from "./lib/server.mjs";
import { column, connectionStatus, createBoard, createTask, screenshot, signUp } from "./lib/ui.mjs";

const TOKEN_TTL_S = 12;
const skip = skipUnlessRunnable();

describe("TaskFlow web client with short-lived tokens", { skip }, () => {
  let server, page;

  const suite = serverAndBrowser("tokens", { env: { TASKFLOW_ACCESS_TOKEN_TTL: String(TOKEN_TTL_S) } });
  before(() => {
    ({ server } = suite);
    [page] = suite.pages;
  });


  it("refreshes tokens before they expire and keeps the live connection up through several lifetimes", async (t) => {
    const run = Date.now().toString(36);
    await signUp(page, server.baseUrl, { name: "Tess Token", email: `tess-${run}@example.com`, password: "long enough 1" });
    await createBoard(page, "Token board");
    await connectionStatus(page).filter({ hasText: "Live" }).waitFor();
    // Record every status the badge shows from now on.
    await page.evaluate(() => {
      const badge = document.querySelector('[data-testid="connection-status"]');
      const seen = (window.__statuses = [badge.dataset.status]);
      new MutationObserver(() => seen.push(badge.dataset.status)).observe(badge, { attributes: true });
    });
    const refreshCookie = async () => (await page.context().cookies()).find((c) => c.name === "taskflow_refresh")?.value;
    const firstRefresh = await refreshCookie();
    assert.ok(firstRefresh, "the refresh token is in its cookie");

    // Two and a half token lifetimes, doing something now and then.
    const until = Date.now() + TOKEN_TTL_S * 2500;
    let n = 0;
    while (Date.now() < until) {
      await createTask(page, "todo", `Task ${++n}`);
      await column(page, "todo").getByRole("link", { name: `Task ${n}`, exact: true }).waitFor();
      await page.waitForTimeout(4000); // pacing between user actions, not synchronisation
    }

    assert.notEqual(await refreshCookie(), firstRefresh, "the refresh token (in its HttpOnly cookie) rotated");
    const statuses = await page.evaluate(() => window.__statuses);
    t.diagnostic(`connection statuses seen: ${statuses.join(" → ")}`);
    assert.deepEqual([...new Set(statuses)], ["live"], "the live connection never dropped");

    // And it still receives events: a change made elsewhere (REST, with a fresh login) shows up.
    const login = await server.api("POST", "/auth/login", { body: { email: `tess-${run}@example.com`, password: "long enough 1" } });
    const boardId = new URL(page.url()).pathname.split("/").pop();
    await server.api("POST", "/tasks", { token: login.access_token, body: { board_id: boardId, title: "From elsewhere" } });
    await waitFor(() => column(page, "todo").getByRole("link", { name: "From elsewhere", exact: true }).isVisible(), {
      timeoutMs: 2000,
      what: "the REST-created task to appear live",
    });
    await screenshot(page, "10-token-refresh");
  });
});
