// The web client's side of integrations, in headless Chromium against a real server: a
// personal access token made on the profile page works for a script at its access level and
// stops at once when revoked there; a Trello export imported from the Boards page becomes a
// board; the board's settings export it as JSON and its tasks as CSV; a task whose answer is
// lost is retried with its Idempotency-Key and made once; the account is deleted
// from the profile page, refused first while it owns a board someone else uses. axe on the pages.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { before, describe } from "node:test";
import { seriousViolations } from "./lib/axe.mjs";
import { serverAndBrowser, skipUnlessRunnable, storySteps } from "./lib/harness.mjs";
import { card, screenshot, signUp } from "./lib/ui.mjs";

const skip = skipUnlessRunnable();

/** A small Trello board export, in the shape Trello's "Export as JSON" gives. */
function trelloExport(run) {
  return {
    id: `trello-${run}`, name: "Imported from Trello", desc: "moved over", closed: false,
    labels: [{ id: "l1", name: "urgent", color: "red" }],
    lists: [
      { id: "L1", name: "Backlog", pos: 1024, closed: false },
      { id: "L2", name: "Doing", pos: 2048, closed: false },
      { id: "L3", name: "Shipped", pos: 4096, closed: false },
    ],
    cards: [
      { id: "C1", name: "Plan the import", desc: "from Trello", idList: "L1", pos: 1, closed: false, due: null, idLabels: ["l1"], idChecklists: ["K1"] },
      { id: "C2", name: "Ship the import", desc: "", idList: "L3", pos: 1, closed: false, due: "2030-01-02T12:00:00.000Z", idLabels: [], idChecklists: [] },
    ],
    checklists: [{ id: "K1", idCard: "C1", name: "Steps", checkItems: [
      { id: "I1", name: "Export the board", state: "complete", pos: 1 },
      { id: "I2", name: "Import it", state: "incomplete", pos: 2 },
    ] }],
    actions: [{ id: "A1", type: "commentCard", date: "2026-01-01T10:00:00.000Z", data: { text: "Looks good", card: { id: "C1" } },
      memberCreator: { fullName: "Trello Tom" } }],
    members: [],
  };
}

describe("integrations in the web client", { skip }, () => {
  const run = Date.now().toString(36);
  const ivy = { name: "Ivy Integrator", email: `ivy-${run}@example.com`, password: "ivy password 1" };
  let server, page, secret, boardId;

  const suite = serverAndBrowser("integrations", { env: { TASKFLOW_RATE_LIMIT_AUTH_ADDRESS: "600/minute;6000/hour" } });
  before(() => {
    ({ server } = suite);
    [page] = suite.pages;
  });
  const step = storySteps("integrations-failure", () => [page]);
  /** A script's request with the token (no browser involved). */
  const script = (method, apiPath, body) => fetch(`${server.baseUrl}/api/v1${apiPath}`, {
    method, headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

  step("a token made on the profile page is shown once and works for a script within its access", async () => {
    await signUp(page, server.baseUrl, ivy);
    await page.getByRole("link", { name: "Profile" }).click();
    const tokens = page.getByRole("region", { name: "API tokens" });
    await tokens.getByLabel("Token name").fill("release script");
    await tokens.getByLabel("Access").selectOption({ label: "Read and write tasks" });
    await tokens.getByLabel("Expires in (days)").fill("30");
    await tokens.getByRole("button", { name: "Create token" }).click();
    secret = await tokens.getByLabel("New token").inputValue();
    assert.match(secret, /^tfp_/);
    await tokens.getByRole("list", { name: "Your API tokens" }).getByText("release script").waitFor();
    assert.deepEqual(await seriousViolations(page), [], "axe on the profile page with a new token");
    await screenshot(page, "70-api-token");

    const me = await script("GET", "/users/me");
    assert.equal(me.status, 200);
    assert.equal((await me.json()).email, ivy.email);
    const board = await script("POST", "/boards", { name: "Made by a script" });
    assert.equal(board.status, 403, "creating a board needs the admin scope");
    await tokens.getByRole("button", { name: "Done" }).click();
    assert.equal(await tokens.getByLabel("New token").count(), 0, "the secret is not shown again");
  });

  step("revoking it on the profile page stops the script at once", async () => {
    const tokens = page.getByRole("region", { name: "API tokens" });
    await tokens.getByRole("button", { name: "Revoke release script" }).click();
    await tokens.getByText("No tokens yet.").waitFor();
    assert.equal((await script("GET", "/users/me")).status, 401);
  });

  step("a Trello export imported from the Boards page becomes a board of lists, cards and checklists", async () => {
    const file = path.join(tmpdir(), `trello-${run}.json`);
    await writeFile(file, JSON.stringify(trelloExport(run)));
    await page.goto(`${server.baseUrl}/boards`);
    const form = page.getByRole("form", { name: "Import a board" });
    await form.getByLabel("Export file (JSON)").setInputFiles(file);
    assert.deepEqual(await seriousViolations(page), [], "axe on the Boards page");
    await form.getByRole("button", { name: "Import board" }).click();
    await page.waitForURL(/\/boards\/[0-9a-f]{24}$/);
    boardId = page.url().split("/").at(-1);
    await page.getByRole("heading", { level: 1, name: "Imported from Trello" }).waitFor();
    await card(page, "Plan the import").getByTestId("checklist-progress").filter({ hasText: "1/2" }).waitFor();
    await card(page, "Ship the import").waitFor();
  });

  step("a bad file is refused with the server's words, and no board appears", async () => {
    const file = path.join(tmpdir(), `broken-${run}.json`);
    await writeFile(file, '{"lists": [');
    await page.goto(`${server.baseUrl}/boards`);
    const listed = page.locator(".board-list li");
    await listed.filter({ hasText: "Imported from Trello" }).waitFor();
    const before = await listed.count();
    const form = page.getByRole("form", { name: "Import a board" });
    await form.getByLabel("Export file (JSON)").setInputFiles(file);
    await form.getByRole("button", { name: "Import board" }).click();
    await form.getByRole("alert").waitFor();
    assert.ok((await form.getByRole("alert").textContent()).length > 10);
    await page.reload();
    await listed.filter({ hasText: "Imported from Trello" }).waitFor();
    assert.equal(await listed.count(), before);
  });

  step("the board's settings export it as JSON and its tasks as CSV", async () => {
    await page.goto(`${server.baseUrl}/boards/${boardId}`);
    await page.getByRole("button", { name: "Settings and members" }).click();
    const [json] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export board (JSON)" }).click()]);
    assert.equal(json.suggestedFilename(), "imported-from-trello.json");
    const doc = JSON.parse(await readFile(await json.path(), "utf8"));
    const titles = JSON.stringify(doc);
    assert.ok(titles.includes("Plan the import") && titles.includes("Ship the import") && titles.includes("Export the board"));
    const [csv] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export tasks (CSV)" }).click()]);
    assert.equal(csv.suggestedFilename(), "imported-from-trello.csv");
    const lines = (await readFile(await csv.path(), "utf8")).trim().split(/\r?\n/);
    assert.equal(lines.length, 3, "a header and one row per task");
    assert.match(lines[0], /title/i);
  });

  step("a new task whose answer is lost on the way is sent again with its Idempotency-Key and made once", async () => {
    await page.goto(`${server.baseUrl}/boards/${boardId}`);
    const keys = [];
    let lost = 0;
    // The first POST reaches the server (which makes the task); its answer never reaches the page.
    await page.route("**/api/v1/tasks", async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      keys.push(route.request().headers()["idempotency-key"]);
      if (lost++ === 0) {
        await route.fetch();
        return route.abort("failed");
      }
      return route.continue();
    });
    const replayed = page.waitForResponse((r) => r.url().endsWith("/api/v1/tasks") && r.request().method() === "POST" && r.status() === 201);
    await page.getByLabel("New task in Backlog").fill("Sent over a bad line");
    await page.getByLabel("New task in Backlog").press("Enter");
    assert.equal((await (await replayed).allHeaders())["idempotent-replayed"], "true", "the retry got the first answer");
    await card(page, "Sent over a bad line").waitFor();
    await page.unroute("**/api/v1/tasks");
    assert.equal(keys.length, 2);
    assert.ok(keys[0] && keys[0] === keys[1], `one key for both tries: ${keys}`);
    const login = await fetch(`${server.baseUrl}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: ivy.email, password: ivy.password }) });
    const token = (await login.json()).access_token;
    const listed = await (await fetch(`${server.baseUrl}/api/v1/tasks?board_id=${boardId}&limit=200`, { headers: { Authorization: `Bearer ${token}` } })).json();
    assert.equal(listed.items.filter((t) => t.title === "Sent over a bad line").length, 1, "made once");
    assert.equal(await card(page, "Sent over a bad line").count(), 1, "shown once");
  });

  step("deleting the account asks for the password, names a board others use, then ends every session", async () => {
    const api = async (method, apiPath, token, body) => fetch(`${server.baseUrl}/api/v1${apiPath}`, {
      method, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const otto = { name: "Otto Other", email: `otto-${run}@example.com`, password: "otto password 1" };
    const made = await api("POST", "/auth/register", null, otto);
    assert.equal(made.status, 201);
    const ottoId = (await made.json()).user.id;
    const ivyToken = (await (await api("POST", "/auth/login", null, { email: ivy.email, password: ivy.password })).json()).access_token;
    assert.equal((await api("POST", `/boards/${boardId}/members`, ivyToken, { email: otto.email, role: "viewer" })).status, 201);

    await page.goto(`${server.baseUrl}/profile`);
    const zone = page.getByRole("region", { name: "Delete account" });
    const submit = zone.getByRole("button", { name: "Delete my account" });
    assert.equal(await submit.isDisabled(), true, "not before 'I understand' is ticked");
    await zone.getByLabel("I understand that my account is deleted for good.").check();
    await zone.getByLabel("Current password").fill("not my password");
    await submit.click();
    await zone.getByText("That is not your current password.").waitFor();
    await zone.getByLabel("Current password").fill(ivy.password);
    await submit.click();
    await zone.getByRole("alert").getByRole("link", { name: "Imported from Trello" }).waitFor();
    assert.deepEqual(await seriousViolations(page), [], "axe on the profile page's refused deletion");
    await screenshot(page, "71-delete-account-refused");

    assert.equal((await api("DELETE", `/boards/${boardId}/members/${ottoId}`, ivyToken)).status, 204);
    await submit.click();
    await page.waitForURL(/\/login$/);
    await page.getByRole("status").filter({ hasText: "Your account was deleted." }).waitFor();
    assert.equal((await api("GET", "/users/me", ivyToken)).status, 401, "her other session is over too");
    const again = await api("POST", "/auth/login", null, { email: ivy.email, password: ivy.password });
    assert.equal(again.status, 401);
    const ottoToken = (await (await api("POST", "/auth/login", null, { email: otto.email, password: otto.password })).json()).access_token;
    assert.equal((await api("GET", `/boards/${boardId}`, ottoToken)).status, 404, "the board she owned alone is gone");
  });
});
