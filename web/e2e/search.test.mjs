// Searching across boards: from a board's filter box to the search page, results grouped by
// board, a hit opening its task, the query help, a refused query named; on a desktop and on a
// 360 px phone, with axe-core on the page. Headless Chromium against a real server.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { seriousViolations } from "./lib/axe.mjs";
import { serverAndBrowser, skipUnlessRunnable } from "./lib/harness.mjs";
import { screenshot, signUp } from "./lib/ui.mjs";

const skip = skipUnlessRunnable();

describe("search across boards", { skip }, () => {
  const run = Date.now().toString(36);
  const sam = { name: "Sam Searcher", email: `sam-${run}@example.com`, password: "sam password 1" };
  const other = { name: "Olga Other", email: `olga-${run}@example.com`, password: "olga password 1" };
  let server, page, boards, tasks;

  const suite = serverAndBrowser("search", { env: { TASKFLOW_RATE_LIMIT_AUTH_ADDRESS: "600/minute;6000/hour" } });
  before(async () => {
    ({ server } = suite);
    [page] = suite.pages;
    await signUp(page, server.baseUrl, sam);
    const token = (await server.api("POST", "/auth/login", { body: { email: sam.email, password: sam.password } })).access_token;
    const olga = await server.api("POST", "/auth/register", { body: other });
    boards = {};
    for (const name of ["Launch plan", "Support desk"]) {
      boards[name] = await server.api("POST", "/boards", { token, body: { name } });
    }
    const hidden = await server.api("POST", "/boards", { token: olga.access_token, body: { name: "Olga's board" } });
    tasks = {};
    const add = async (board, title, extra = {}) => {
      tasks[title] = await server.api("POST", "/tasks", { token, body: { board_id: board.id, title, ...extra } });
    };
    await add(boards["Launch plan"], "Write the launch checklist");
    await add(boards["Launch plan"], "Book the venue", { description: "needs the launch date first" });
    await add(boards["Support desk"], "Answer launch questions", { status: "done" });
    await add(boards["Support desk"], "Unrelated ticket");
    await server.api("POST", "/tasks", { token: olga.access_token, body: { board_id: hidden.id, title: "Secret launch" } });
    await server.api("POST", `/tasks/${tasks["Unrelated ticket"].id}/comments`, { token, body: { body: "customer asked about the launch" } });
  });

  it("the board's search box searches every board; results grouped by board open their task", async () => {
    await page.goto(`${server.baseUrl}/boards/${boards["Launch plan"].id}`);
    await page.getByRole("heading", { level: 1, name: "Launch plan" }).waitFor();
    await page.getByRole("searchbox", { name: "Search" }).fill("launch");
    await page.getByRole("link", { name: "Search all boards" }).click();
    await page.waitForURL(/\/search\?q=launch$/);
    await page.getByTestId("search-count").filter({ hasText: "4 tasks on 2 boards" }).waitFor();
    const groups = page.getByTestId("search-group");
    // Newest change first; boards in the order of their newest hit.
    assert.deepEqual(await groups.getByRole("heading", { level: 2 }).allTextContents(), ["Support desk", "Launch plan"]);
    assert.deepEqual(await groups.nth(0).locator(".search-hit-title").allTextContents(),
      ["Unrelated ticket", "Answer launch questions"]);
    assert.deepEqual(await groups.nth(1).locator(".search-hit-title").allTextContents(),
      ["Book the venue", "Write the launch checklist"]);
    assert.equal(await page.getByText("Secret launch").count(), 0, "another user's board never shows");
    await page.getByText("Found in comments").waitFor();
    assert.match(await page.getByRole("searchbox", { name: "Search" }).getAttribute("aria-describedby"), /hint/);
    await page.getByText(/Filters: assignee:me/).waitFor();
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, "60-search-results");

    await page.getByRole("link", { name: "Answer launch questions" }).click();
    await page.waitForURL(new RegExp(`/boards/${boards["Support desk"].id}/tasks/${tasks["Answer launch questions"].id}$`));
    await page.getByRole("dialog").getByRole("heading", { name: "Answer launch questions" }).waitFor();
  });

  it("filters narrow, and a query the server refuses is named in plain words", async () => {
    await page.goto(`${server.baseUrl}/search`);
    const box = page.getByRole("searchbox", { name: "Search" });
    await box.fill("launch status:done");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByTestId("search-count").filter({ hasText: "1 tasks on 1 board" }).waitFor();
    assert.deepEqual(await page.locator(".search-hit-title").allTextContents(), ["Answer launch questions"]);
    await box.fill("status:later");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByRole("alert").filter({ hasText: "status:later" }).waitFor();
    await box.fill('100% "unbalanced');
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByTestId("search-count").filter({ hasText: "No tasks match." }).waitFor();
  });

  it("fits a 360 px phone", async () => {
    const phone = await (await suite.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })).newPage();
    phone.setDefaultTimeout(10_000);
    await phone.goto(`${server.baseUrl}/login`);
    await phone.getByLabel("Email").fill(sam.email);
    await phone.getByLabel("Password").fill(sam.password);
    await phone.getByRole("button", { name: "Sign in" }).click();
    await phone.waitForURL(/\/boards$/);
    await phone.goto(`${server.baseUrl}/search?q=launch`);
    await phone.getByTestId("search-count").filter({ hasText: "4 tasks" }).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `horizontal overflow of ${overflow} px`);
    assert.deepEqual(await seriousViolations(phone), []);
    await screenshot(phone, "61-search-phone");
    await phone.context().close();
  });
});
