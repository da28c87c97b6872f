// A board's own columns in real Chromium against a real TaskFlow server: a column added and
// renamed through the REST API by another member appears live; the owner manages columns in
// the "Manage columns" dialog; a task moves into a new column (sent as column_id); a column at
// its WIP limit is marked and a move into it still works; axe finds nothing serious; a
// 360 px phone shows the columns as tabs.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { seriousViolations } from "./lib/axe.mjs";
import { serverAndBrowser, skipUnlessRunnable, storySteps } from "./lib/harness.mjs";
import { card, column, connectionStatus, createBoard, createTask, screenshot, signUp } from "./lib/ui.mjs";

const skip = skipUnlessRunnable();

describe("board columns in the web client", { skip }, () => {
  const run = Date.now().toString(36);
  const owner = { name: "Olga Owner", email: `olga-${run}@example.com`, password: "correct horse 1" };
  const editor = { email: `eddie-${run}@example.com`, password: "battery staple 2", name: "Eddie" };
  let server, page, boardId, editorToken, ownerToken;

  const step = storySteps("columns-failure", () => [page]);
  const heading = (key, name) => column(page, key).getByRole("heading", { name });
  const board = () => server.api("GET", `/boards/${boardId}`, { token: ownerToken });
  const columnNamed = async (name) => (await board()).columns.find((c) => c.name === name);

  const suite = serverAndBrowser("columns");
  before(() => {
    ({ server } = suite);
    [page] = suite.pages;
  });


  step("the owner opens a new board: three columns, one per category", async () => {
    await signUp(page, server.baseUrl, owner);
    boardId = await createBoard(page, "Columns board");
    await connectionStatus(page).filter({ hasText: "Live" }).waitFor({ timeout: 10_000 });
    for (const [key, name] of [["todo", "To do (0)"], ["in_progress", "In progress (0)"], ["done", "Done (0)"]]) {
      await heading(key, name).waitFor();
    }
    ownerToken = (await server.api("POST", "/auth/login", { body: { email: owner.email, password: owner.password } })).access_token;
    editorToken = (await server.api("POST", "/auth/register", { body: editor })).access_token;
    await server.api("POST", `/boards/${boardId}/members`, { token: ownerToken, body: { email: editor.email, role: "editor" } });
  });

  step("an editor adds and renames a column over REST: it appears live, in place, without a reload", async () => {
    await page.evaluate(() => Object.assign(window, { __noReloadMarker: true }));
    const done = (await board()).columns.find((c) => c.category === "done");
    const added = await server.api("POST", `/boards/${boardId}/columns`, {
      token: editorToken, body: { name: "Review", category: "in_progress", wip_limit: 1, before_id: done.id },
    });
    await page.getByRole("heading", { name: "Review (0 / 1)" }).waitFor({ timeout: 5000 });
    const names = await page.locator(".column-heading").evaluateAll((hs) => hs.map((h) => h.firstChild.textContent.trim()));
    assert.deepEqual(names, ["To do", "In progress", "Review", "Done"]);
    await server.api("PATCH", `/boards/${boardId}/columns/${added.id}`, { token: editorToken, body: { name: "Peer review" } });
    await page.getByRole("heading", { name: "Peer review (0 / 1)" }).waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate(() => window.__noReloadMarker), true);
  });

  step("a task moves into the new column with its move button: the server has its column_id", async () => {
    await createTask(page, "in_progress", "Check the copy");
    await card(page, "Check the copy").waitFor();
    await card(page, "Check the copy").getByRole("button", { name: "Move “Check the copy” to Peer review" }).click();
    const review = await columnNamed("Peer review");
    const target = column(page, review.id);
    await target.getByRole("link", { name: "Check the copy", exact: true }).waitFor();
    // At its limit of 1: marked in words and by its data-wip, not refused.
    await target.getByRole("heading", { name: "Peer review (1 / 1) full" }).waitFor();
    assert.equal(await target.getAttribute("data-wip"), "full");
    const [task] = (await server.api("GET", `/tasks?board_id=${boardId}&column_id=${review.id}`, { token: ownerToken })).items;
    assert.equal(task.title, "Check the copy");
    assert.equal(task.status, "in_progress");
  });

  step("a second task moved into the full column is let in, and the column shows it is over its limit", async () => {
    await createTask(page, "todo", "Second pass");
    await card(page, "Second pass").getByRole("button", { name: "Move “Second pass” to In progress" }).click();
    await card(page, "Second pass").getByRole("button", { name: "Move “Second pass” to Peer review" }).click();
    const review = await columnNamed("Peer review");
    await column(page, review.id).getByRole("heading", { name: "Peer review (2 / 1) over limit" }).waitFor();
    assert.equal(await column(page, review.id).getAttribute("data-wip"), "over");
    await screenshot(page, "columns-over-limit");
  });

  step("Manage columns: add one, set a WIP limit, reorder with the keyboard, delete one moving its tasks", async () => {
    await page.getByRole("button", { name: "Manage columns" }).click();
    const dialog = page.getByRole("dialog", { name: "Manage columns" });
    await dialog.waitFor();
    assert.deepEqual(await seriousViolations(page), []);

    await dialog.getByLabel("New column name").fill("Blocked");
    await dialog.getByLabel("Category").selectOption("in_progress");
    await dialog.getByRole("button", { name: "Add column" }).click();
    await dialog.getByRole("group", { name: /^Blocked/ }).waitFor();
    assert.ok(await columnNamed("Blocked"));

    const blocked = dialog.locator(`[data-column-admin="${(await columnNamed("Blocked")).id}"]`);
    await blocked.getByLabel("WIP limit").fill("3");
    await blocked.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "Blocked (0 / 3)" }).waitFor();

    // Keyboard only: focus "Move Blocked left" and press Enter twice (Done, then Peer review).
    await blocked.getByRole("button", { name: "Move Blocked left" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelectorAll(".column-admin")[3]?.textContent?.includes("Blocked"));
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelectorAll(".column-admin")[2]?.textContent?.includes("Blocked"));
    assert.deepEqual((await board()).columns.map((c) => c.name), ["To do", "In progress", "Blocked", "Peer review", "Done"]);

    // Deleting "Peer review" asks where its two tasks go; they land at the end of that column.
    const review = dialog.locator(`[data-column-admin="${(await columnNamed("Peer review")).id}"]`);
    await review.getByRole("button", { name: "Delete Peer review" }).click();
    await review.getByLabel("Move its 2 tasks to").selectOption({ label: "Done (Done)" });
    await review.getByRole("button", { name: "Delete column" }).click();
    await column(page, "done").getByRole("link", { name: "Second pass", exact: true }).waitFor();
    const titles = await column(page, "done").locator(".task-title").allTextContents();
    assert.deepEqual(titles, ["Check the copy", "Second pass"]);
    assert.equal(await columnNamed("Peer review"), undefined);
    // The board's only "To do" column can't go.
    const todo = dialog.locator(`[data-column-admin="${(await board()).columns[0].id}"]`);
    assert.equal(await todo.getByRole("button", { name: "Delete To do" }).getAttribute("aria-disabled"), "true");
    await dialog.getByRole("button", { name: "Close manage columns" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.deepEqual(await seriousViolations(page), []);
  });

  step("the task dialog's Column field moves a task to any of the board's columns", async () => {
    await page.getByRole("link", { name: "Check the copy", exact: true }).click();
    const dialog = page.getByTestId("task-dialog");
    await dialog.getByLabel("Column").selectOption({ label: "Blocked" });
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.getByText("Saved.").waitFor();
    await page.getByRole("button", { name: "Close task" }).click();
    const blocked = await columnNamed("Blocked");
    await column(page, blocked.id).getByRole("link", { name: "Check the copy", exact: true }).waitFor();
    const [task] = (await server.api("GET", `/tasks?board_id=${boardId}&column_id=${blocked.id}`, { token: ownerToken })).items;
    assert.equal(task.title, "Check the copy");
    assert.equal(task.status, "in_progress");
    assert.equal(task.completed_at, null); // left the done column
  });

  step("on a 360 px phone the columns are tabs named after the board's columns", async () => {
    const phone = await (await suite.browser.newContext({ viewport: { width: 360, height: 740 }, hasTouch: true })).newPage();
    try {
      await phone.goto(server.baseUrl + "/login");
      await phone.getByLabel("Email").fill(owner.email);
      await phone.getByLabel("Password").fill(owner.password);
      await phone.getByRole("button", { name: /Sign in|Log in/ }).click();
      await phone.waitForURL(/\/boards$/);
      await phone.goto(`${server.baseUrl}/boards/${boardId}`);
      const tabs = phone.getByRole("tablist", { name: "Columns" }).getByRole("tab");
      await tabs.first().waitFor();
      assert.deepEqual((await tabs.allTextContents()).map((t) => t.replace(/\s*\(.*$/, "")), ["To do", "In progress", "Blocked", "Done"]);
      await phone.getByRole("tab", { name: /Blocked/ }).click();
      await phone.getByRole("heading", { name: "Blocked (1 / 3)" }).waitFor();
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
      assert.deepEqual(await seriousViolations(phone), []);
      await screenshot(phone, "columns-phone");
      // The dialog fits the phone too.
      await phone.getByRole("button", { name: "Manage columns" }).click();
      const dialog = phone.getByRole("dialog", { name: "Manage columns" });
      await dialog.waitFor();
      const wider = await dialog.evaluate((d) => d.scrollWidth - d.clientWidth);
      assert.ok(wider <= 0, `the dialog scrolls sideways by ${wider}px`);
      assert.deepEqual(await seriousViolations(phone), []);
      await screenshot(phone, "columns-phone-dialog");
    } finally {
      await phone.close();
    }
  });
});
