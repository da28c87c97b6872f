// Mentions and notifications in two browsers against a real TaskFlow server: B mentions A in a
// comment (through the member picker), A's bell counts it live without a reload, A opens the
// list (accessible, on a phone too), opens the notification, which marks it read and opens
// the task. Run with `npm run e2e -- e2e/notifications.test.mjs` or `node --test` after a build.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { seriousViolations } from "./lib/axe.mjs";
import { serverAndBrowser, skipUnlessRunnable, storySteps } from "./lib/harness.mjs";
import { addMember, card, connectionStatus, createBoard, createTask, screenshot, signUp } from "./lib/ui.mjs";

const skip = skipUnlessRunnable();

describe("Mentions and notifications", { skip }, () => {
  const run = Date.now().toString(36);
  const alice = { name: "Alice Owner", email: `alice-n-${run}@example.com`, password: "correct horse 1" };
  const bob = { name: "Bob Editor", email: `bob-n-${run}@example.com`, password: "battery staple 2" };
  let server, A, B, boardId;

  const step = storySteps("notify-failure", () => [A, B]);

  const suite = serverAndBrowser("notify", { pages: 2 });
  before(() => {
    ({ server } = suite);
    [A, B] = suite.pages;
  });


  const bell = (page) => page.getByTestId("notification-bell");
  const count = (page) => page.getByTestId("notification-count");

  step("A and B sign up; A shares a board with B and adds a task", async () => {
    await signUp(A, server.baseUrl, alice);
    await signUp(B, server.baseUrl, bob);
    boardId = await createBoard(A, "Mentions board");
    await addMember(A, bob.email, "editor");
    await createTask(A, "todo", "Write the launch note");
    await card(A, "Write the launch note").waitFor();
    await connectionStatus(A).filter({ hasText: "Live" }).waitFor({ timeout: 10_000 });
    assert.equal(await bell(A).getAttribute("aria-label"), "Notifications, 0 unread");
    assert.equal(await count(A).count(), 0);
    await A.evaluate(() => Object.assign(window, { __noReloadMarker: true }));
  });

  step("B mentions A in a comment with the member picker: A's badge goes up live", async () => {
    await B.goto(`${server.baseUrl}/boards/${boardId}`);
    await card(B, "Write the launch note").getByRole("link", { name: "Write the launch note", exact: true }).click();
    const dialog = B.getByTestId("task-dialog");
    await dialog.getByLabel("Add a comment").fill("Could you review this,");
    await dialog.getByLabel(/Mention a member/).selectOption({ label: alice.name });
    assert.equal(await dialog.getByLabel("Add a comment").inputValue(), `Could you review this, @[${alice.name}] `);
    await dialog.getByRole("button", { name: "Post comment" }).click();
    // The posted comment (the box may still hold the text until the POST's answer comes:
    // the live comment can be first).
    await dialog.locator(".comment-body").getByText(`@[${alice.name}]`).waitFor();
    await count(A).filter({ hasText: "1" }).waitFor({ timeout: 5000 });
    assert.equal(await bell(A).getAttribute("aria-label"), "Notifications, 1 unread");
    assert.equal(await A.evaluate(() => window.__noReloadMarker), true, "A's page was not reloaded");
  });

  step("A opens the list: unread, accessible, and it fits a 360 px phone", async () => {
    await bell(A).click();
    const panel = A.locator("#notification-panel");
    const item = panel.getByRole("button", { name: /Bob Editor mentioned you/ });
    await item.waitFor();
    assert.match(await item.textContent(), /Unread/);
    assert.match(await item.textContent(), /Write the launch note: Could you review this/);
    assert.deepEqual(await seriousViolations(A), []);
    await screenshot(A, "notify-01-list");
    await A.setViewportSize({ width: 360, height: 740 });
    const box = await panel.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 360, `panel at x=${box.x} w=${box.width}`);
    assert.ok(await A.evaluate(() => document.documentElement.scrollWidth <= 360), "nothing wider than 360 px");
    await A.setViewportSize({ width: 1280, height: 900 });
  });

  step("A opens the notification: it is read (on the server too) and its task opens", async () => {
    await A.locator("#notification-panel").getByRole("button", { name: /Bob Editor mentioned you/ }).click();
    await A.waitForURL(/\/tasks\//);
    await A.getByTestId("task-dialog").getByRole("heading", { name: "Write the launch note" }).waitFor();
    await count(A).waitFor({ state: "detached" });
    assert.equal(await bell(A).getAttribute("aria-label"), "Notifications, 0 unread");
    // Watching: A created the task, so A watches it; the toggle says so and can stop it.
    const watch = A.getByTestId("task-dialog").getByTestId("watch-task");
    await watch.filter({ hasText: "Watching task" }).waitFor();
    await watch.click();
    await watch.filter({ hasText: "Watch task" }).waitFor();
    // After a reload the server's list agrees.
    await A.reload();
    await bell(A).waitFor();
    await bell(A).click();
    const item = A.locator("#notification-panel").getByRole("button", { name: /Bob Editor mentioned you/ });
    await item.waitFor();
    assert.doesNotMatch(await item.textContent(), /Unread/);
    assert.equal(await bell(A).getAttribute("aria-label"), "Notifications, 0 unread");
  });
});
