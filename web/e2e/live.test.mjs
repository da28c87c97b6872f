// Two people on one board, in two browser contexts, against a real TaskFlow server:
// every change one makes reaches the other within a second, and nothing is lost when
// the server restarts. Run with `npm run e2e` (builds web/dist first).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { serverAndBrowser, skipUnlessRunnable, storySteps } from "./lib/harness.mjs";
import { waitFor } from "./lib/server.mjs";
import {
  addMember,
  card,
  column,
  columnTitles,
  connectionStatus,
  createBoard,
  createTask,
  screenshot,
  signUp,
} from "./lib/ui.mjs";

const LIVE_BUDGET_MS = 1000;
const skip = skipUnlessRunnable();

describe("TaskFlow web client, live, against a real server", { skip }, () => {
  const run = Date.now().toString(36);
  const alice = { name: "Alice Owner", email: `alice-${run}@example.com`, password: "correct horse 1" };
  const bob = { name: "Bob Editor", email: `bob-${run}@example.com`, password: "battery staple 2" };
  const timings = [];
  let server, A, B, boardId;

  /** Runs `action` (by A) and resolves when `seenByB` does; asserts it took under the budget. */
  async function seenWithin(label, action, seenByB) {
    const seen = seenByB(); // start watching B before A acts
    const t0 = performance.now();
    await action();
    await seen;
    const ms = Math.round(performance.now() - t0);
    timings.push(`${label}: ${ms} ms`);
    assert.ok(ms < LIVE_BUDGET_MS, `${label}: B saw it after ${ms} ms (budget ${LIVE_BUDGET_MS} ms)`);
  }

  const step = storySteps("live-failure", () => [A, B]);

  const visible = (locator, timeout = 5000) => () => locator.waitFor({ state: "visible", timeout });
  const gone = (locator, timeout = 5000) => () => locator.waitFor({ state: "detached", timeout });

  // A small upload limit, so that it can be met in a test.
  const suite = serverAndBrowser("live", { env: { TASKFLOW_MAX_UPLOAD_MB: "1" }, pages: 2 });
  before(() => {
    ({ server } = suite);
    [A, B] = suite.pages;
  });

  after(() => {
    if (timings.length) console.log(`live delivery timings (A's click to B's screen):\n  ${timings.join("\n  ")}`);
  });

  step("both people sign up through the UI", async () => {
    await signUp(A, server.baseUrl, alice);
    await signUp(B, server.baseUrl, bob);
    await connectionStatus(A).filter({ hasText: "Live" }).waitFor({ timeout: 10_000 });
    await connectionStatus(B).filter({ hasText: "Live" }).waitFor({ timeout: 10_000 });
  });

  step("A creates a board and adds B as an editor by email: it appears on B's open Boards page, B opens it and they see each other", async () => {
    await B.goto(`${server.baseUrl}/boards`);
    await B.locator(".board-list").waitFor(); // loaded (sign-up made a first board)
    await connectionStatus(B).filter({ hasText: "Live" }).waitFor({ timeout: 10_000 });
    boardId = await createBoard(A, "Launch plan");
    await seenWithin(
      "board shared (B's Boards page, no refresh)",
      () => addMember(A, bob.email, "editor"),
      visible(B.getByRole("link", { name: /Launch plan/ })),
    );
    await B.getByRole("link", { name: /Launch plan/ }).click();
    await B.getByRole("heading", { level: 1, name: "Launch plan" }).waitFor();
    await A.getByTestId("presence").getByRole("img", { name: bob.name }).waitFor({ timeout: 5000 });
    await B.getByTestId("presence").getByRole("img", { name: alice.name }).waitFor({ timeout: 5000 });
    await screenshot(B, "01-b-board-open");
    // A marker that only survives if B's page is never reloaded from here on.
    await B.evaluate(() => Object.assign(window, { __noReloadMarker: true }));
  });

  step("A creates a task: B sees it within a second", async () => {
    await seenWithin(
      "task created",
      () => createTask(A, "todo", "Write the spec"),
      visible(column(B, "todo").getByRole("link", { name: "Write the spec", exact: true })),
    );
  });

  step("A drags it to In progress: B sees it move within a second", async () => {
    await seenWithin(
      "task dragged to another column",
      () => card(A, "Write the spec").dragTo(column(A, "in_progress")),
      visible(column(B, "in_progress").getByRole("link", { name: "Write the spec", exact: true })),
    );
    assert.deepEqual(await columnTitles(B, "todo"), []);
  });

  step("A reorders with the keyboard move buttons: B sees the new order within a second, and it persists", async () => {
    await createTask(A, "in_progress", "Review the spec");
    await column(B, "in_progress").getByRole("link", { name: "Review the spec", exact: true }).waitFor();
    assert.deepEqual(await columnTitles(B, "in_progress"), ["Write the spec", "Review the spec"]);
    const up = A.getByRole("button", { name: "Move “Review the spec” up" });
    await up.focus();
    await seenWithin(
      "task reordered by keyboard",
      () => A.keyboard.press("Enter"),
      () => B.waitForFunction(
        () => [...document.querySelectorAll('[data-testid="column-in_progress"] .task-title')].map((e) => e.textContent).join("|")
          === "Review the spec|Write the spec",
        null,
        { timeout: 5000, polling: "raf" },
      ),
    );
    // Focus stays on the card's move buttons after it moved, for the next key press.
    assert.equal(await A.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Move “Review the spec” up");
    const tasks = await server.api("GET", `/tasks?board_id=${boardId}&status=in_progress&sort=position`, { token: await tokenOf(A) });
    assert.deepEqual(tasks.items.map((t) => t.title), ["Review the spec", "Write the spec"]);
  });

  step("arrow keys on a focused card go to its neighbours; Alt + arrows move it, and B sees the move", async () => {
    const active = () => A.evaluate(() => document.activeElement?.textContent);
    await A.getByRole("link", { name: "Review the spec", exact: true }).focus();
    await A.keyboard.press("ArrowDown");
    assert.equal(await active(), "Write the spec");
    await A.keyboard.press("ArrowUp");
    assert.equal(await active(), "Review the spec");
    await seenWithin(
      "task moved with Alt+ArrowDown",
      () => A.keyboard.press("Alt+ArrowDown"),
      () => B.waitForFunction(
        () => [...document.querySelectorAll('[data-testid="column-in_progress"] .task-title')].map((e) => e.textContent).join("|")
          === "Write the spec|Review the spec",
        null,
        { timeout: 5000, polling: "raf" },
      ),
    );
    await A.waitForFunction(() => document.activeElement?.textContent === "Review the spec"); // focus followed the card
    await A.keyboard.press("Alt+ArrowUp"); // and back, for the steps that follow
    await B.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="column-in_progress"] .task-title')].map((e) => e.textContent).join("|")
        === "Review the spec|Write the spec",
      null,
      { timeout: 5000, polling: "raf" },
    );
  });

  step("A opens the task: B sees an editing mark; A saves a new title: B sees it within a second", async () => {
    await A.getByRole("link", { name: "Write the spec", exact: true }).click();
    const dialog = A.getByRole("dialog");
    await dialog.waitFor();
    await card(B, "Write the spec").getByTestId("editing-mark").waitFor({ timeout: 5000 });
    await screenshot(B, "02-b-sees-a-editing");
    await dialog.getByLabel("Title").fill("Write the spec v2");
    await dialog.getByLabel("Priority").selectOption("urgent");
    await seenWithin(
      "task edited",
      () => dialog.getByRole("button", { name: "Save changes" }).click(),
      visible(column(B, "in_progress").getByRole("link", { name: "Write the spec v2", exact: true })),
    );
    await A.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    await gone(card(B, "Write the spec v2").getByTestId("editing-mark"))();
  });

  step("a stale edit is not silently overwritten: B sees both versions and keeps theirs", async () => {
    await B.getByRole("link", { name: "Write the spec v2", exact: true }).click();
    const bDialog = B.getByRole("dialog");
    await bDialog.getByLabel("Description").fill("Bob's description");
    await A.getByRole("link", { name: "Write the spec v2", exact: true }).click();
    const aDialog = A.getByRole("dialog");
    await aDialog.getByLabel("Description").fill("Alice's description");
    await aDialog.getByRole("button", { name: "Save changes" }).click();
    await aDialog.getByText("Saved.").waitFor();
    await bDialog.getByText("Someone else has just changed this task").waitFor({ timeout: 5000 });
    await bDialog.getByRole("button", { name: "Save changes" }).click();
    const conflict = bDialog.getByTestId("conflict");
    await conflict.waitFor();
    await conflict.getByRole("cell", { name: "Bob's description" }).waitFor();
    await conflict.getByRole("cell", { name: "Alice's description" }).waitFor();
    await screenshot(B, "03-b-conflict");
    await conflict.getByRole("button", { name: "Keep mine" }).click();
    await bDialog.getByText("Saved.").waitFor();
    // A's editor is untouched since saving, so it follows the live change.
    await waitFor(async () => (await aDialog.getByLabel("Description").inputValue()) === "Bob's description", {
      timeoutMs: 5000,
      what: "A's editor to show Bob's description",
    });
    await A.keyboard.press("Escape");
    await B.keyboard.press("Escape");
    await bDialog.waitFor({ state: "detached" });
  });

  step("B comments on the task: A, with the task open, sees the comment within a second", async () => {
    await A.getByRole("link", { name: "Write the spec v2", exact: true }).click();
    const aDialog = A.getByRole("dialog");
    await aDialog.getByText("No comments yet.").waitFor();
    await B.getByRole("link", { name: "Write the spec v2", exact: true }).click();
    const bDialog = B.getByRole("dialog");
    await bDialog.getByLabel("Add a comment").fill("Looks good to me");
    await seenWithin(
      "comment posted",
      () => bDialog.getByRole("button", { name: "Post comment" }).click(),
      visible(aDialog.getByText("Looks good to me", { exact: true })),
    );
    await A.keyboard.press("Escape");
    await B.keyboard.press("Escape");
    await aDialog.waitFor({ state: "detached" });
    await bDialog.waitFor({ state: "detached" });
  });

  step("after a server restart B reconnects and misses nothing: a REST change made while B was away, and A's next change", async () => {
    const token = await tokenOf(A);
    const [task] = (await server.api("GET", `/tasks?board_id=${boardId}&q=${encodeURIComponent("spec v2")}`, { token })).items;
    assert.ok(task, "the edited task exists");

    // B drops off the network, so the REST change below surely happens while B is disconnected.
    await B.context().setOffline(true);
    await connectionStatus(B).filter({ hasText: "Offline" }).waitFor({ timeout: 5000 });
    await server.stop({ signal: "SIGKILL" }); // a crash, not a goodbye: acknowledged writes must survive it
    await connectionStatus(A).filter({ hasText: /Reconnecting|Offline/ }).waitFor({ timeout: 10_000 });
    await screenshot(A, "04-a-server-down");
    await server.start();

    await server.api("PATCH", `/tasks/${task.id}`, { token, body: { title: "Changed while B was away" } });
    await B.context().setOffline(false);
    await connectionStatus(B).filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
    await connectionStatus(A).filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
    await column(B, "in_progress").getByRole("link", { name: "Changed while B was away", exact: true }).waitFor({ timeout: 5000 });

    await seenWithin(
      "task created after restart",
      () => createTask(A, "done", "Ship it"),
      visible(column(B, "done").getByRole("link", { name: "Ship it", exact: true })),
    );
    await screenshot(B, "05-b-after-restart");
    // Nothing was lost and nothing doubled: B's board equals a fresh fetch.
    const fresh = await server.api("GET", `/tasks?board_id=${boardId}&sort=position&limit=200`, { token });
    const onB = [
      ...(await columnTitles(B, "todo")),
      ...(await columnTitles(B, "in_progress")),
      ...(await columnTitles(B, "done")),
    ].sort();
    assert.deepEqual(onB, fresh.items.map((t) => t.title).sort());
    assert.equal(await B.evaluate(() => window.__noReloadMarker), true, "B's page was never reloaded");
  });

  step("unsaved changes are never dropped by accident: Escape, × and Back ask first", async () => {
    await A.getByRole("link", { name: "Ship it", exact: true }).click();
    const dialog = A.getByRole("dialog");
    await dialog.getByLabel("Description").fill("Half-written thought");
    const confirm = A.getByRole("alertdialog", { name: "Discard your changes?" });
    for (const attempt of ["Escape", "×", "Back"]) {
      if (attempt === "Escape") await A.keyboard.press("Escape");
      else if (attempt === "×") await dialog.getByRole("button", { name: "Close task" }).click();
      else await A.goBack();
      await confirm.waitFor().catch(async (err) => {
        await screenshot(A, `failure-confirm-${attempt === "×" ? "x" : attempt}`);
        throw new Error(`${attempt}: no confirmation (${A.url()}): ${err.message}`);
      });
      assert.equal(await A.evaluate(() => document.activeElement?.textContent), "Keep editing", `${attempt}: focus on Keep editing`);
      await confirm.getByRole("button", { name: "Keep editing" }).click();
      await confirm.waitFor({ state: "detached" });
      assert.equal(await dialog.getByLabel("Description").inputValue(), "Half-written thought", `${attempt}: the text is still there`);
      assert.match(A.url(), /\/tasks\//, `${attempt}: still on the task`);
    }
    await screenshot(A, "08-a-confirm-discard");
    await A.keyboard.press("Escape");
    await confirm.getByRole("button", { name: "Discard changes" }).click();
    await dialog.waitFor({ state: "detached" });
    // Not saved: B's copy never got the text.
    await B.getByRole("link", { name: "Ship it", exact: true }).click();
    assert.equal(await B.getByRole("dialog").getByLabel("Description").inputValue(), "");
  });

  step("B, made a viewer while editing, keeps the draft to copy; made an editor again, gets it back in the form", async () => {
    const bDialog = B.getByRole("dialog");
    await bDialog.getByLabel("Description").fill("Bob's unsaved words");
    const roleOfBob = A.getByLabel(`Role of ${bob.name}`);
    if (!(await roleOfBob.isVisible())) await A.getByRole("button", { name: "Settings and members" }).click();
    await roleOfBob.selectOption("viewer");
    const kept = bDialog.getByTestId("kept-draft");
    await kept.waitFor({ timeout: 5000 });
    assert.match(await kept.getByRole("textbox").inputValue(), /Description: Bob's unsaved words/);
    await screenshot(B, "09-b-kept-draft");
    await roleOfBob.selectOption("editor");
    await bDialog.getByLabel("Description").waitFor({ timeout: 5000 });
    assert.equal(await bDialog.getByLabel("Description").inputValue(), "Bob's unsaved words");
    await B.keyboard.press("Escape");
    await B.getByRole("alertdialog").getByRole("button", { name: "Discard changes" }).click();
    await bDialog.waitFor({ state: "detached" });
  });

  step("deleting a task can be undone for a few seconds; then it is gone for everyone", async () => {
    await createTask(A, "todo", "Delete me");
    await column(B, "todo").getByRole("link", { name: "Delete me", exact: true }).waitFor();
    const openAndDelete = async () => {
      await A.getByRole("link", { name: "Delete me", exact: true }).click();
      await A.getByRole("dialog").getByRole("button", { name: "Delete task" }).click();
      await A.getByRole("dialog").waitFor({ state: "detached" });
    };
    await openAndDelete();
    const toast = A.getByTestId("undo-toast").filter({ hasText: "Delete me" });
    await toast.waitFor();
    await A.waitForFunction(() => document.activeElement?.textContent === "Undo", null, { timeout: 2000 }); // focus on Undo
    assert.equal(await column(A, "todo").getByRole("link", { name: "Delete me", exact: true }).count(), 0);
    await screenshot(A, "10-a-undo-toast");
    await toast.getByRole("button", { name: "Undo" }).click();
    await column(A, "todo").getByRole("link", { name: "Delete me", exact: true }).waitFor();
    assert.equal(await column(B, "todo").getByRole("link", { name: "Delete me", exact: true }).count(), 1, "B never lost it");

    await openAndDelete();
    await toast.waitFor();
    await toast.waitFor({ state: "detached", timeout: 10_000 }); // the undo window ends, the DELETE goes out
    await seenWithin("task deleted (after the undo window)", async () => undefined,
      gone(column(B, "todo").getByRole("link", { name: "Delete me", exact: true })));

    // Leaving the page inside the window sends the DELETE at once rather than never.
    await createTask(A, "todo", "Delete me on leaving");
    await column(B, "todo").getByRole("link", { name: "Delete me on leaving", exact: true }).waitFor();
    await A.getByRole("link", { name: "Delete me on leaving", exact: true }).click();
    await A.getByRole("dialog").getByRole("button", { name: "Delete task" }).click();
    await A.getByTestId("undo-toast").waitFor();
    await seenWithin("task deleted (page reloaded inside the undo window)", () => A.reload(),
      gone(column(B, "todo").getByRole("link", { name: "Delete me on leaving", exact: true })));
    await A.getByRole("heading", { level: 1, name: "Launch plan" }).waitFor();
  });

  step("attachments: A uploads (button and drop, with progress), B sees them live, downloads one, deletes one", async () => {
    await A.getByRole("link", { name: "Review the spec", exact: true }).click();
    await B.getByRole("link", { name: "Review the spec", exact: true }).click();
    const aFiles = A.getByRole("dialog").getByTestId("attachments");
    const bFiles = B.getByRole("dialog").getByTestId("attachments");
    await aFiles.getByText("No files attached.").waitFor();
    await bFiles.getByText("No files attached.").waitFor();
    await aFiles.getByText("Up to 1.0 MB per file.").waitFor(); // the server's limit, shown before choosing
    // Record whether an upload row with a progress bar showed.
    await A.evaluate(() => {
      window.__sawProgress = false;
      new MutationObserver(() => {
        if (document.querySelector('[data-testid="upload"] progress')) window.__sawProgress = true;
      }).observe(document.body, { subtree: true, childList: true });
    });
    const big = Buffer.alloc(900 * 1024, 0x61);
    await seenWithin(
      "attachment uploaded (button)",
      () => aFiles.locator('input[type="file"]').setInputFiles({ name: "spec-draft.txt", mimeType: "text/plain", buffer: big }),
      visible(bFiles.getByRole("button", { name: "Download spec-draft.txt" }), 10_000),
    );
    assert.equal(await A.evaluate(() => window.__sawProgress), true, "a progress bar showed while uploading");
    const row = bFiles.getByTestId("attachment").filter({ hasText: "spec-draft.txt" });
    assert.match(await row.textContent(), /900 KB · Alice Owner ·/);
    // Over the limit: refused in the browser, with the limit said.
    await aFiles.locator('input[type="file"]').setInputFiles({ name: "huge.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(1_500_000) });
    await aFiles.getByRole("alert").filter({ hasText: "files can be at most 1.0 MB" }).waitFor();
    // Dropping a file onto the task attaches it.
    await seenWithin(
      "attachment uploaded (dropped on the task)",
      () => A.getByRole("dialog").evaluate((dialog) => {
        const data = new DataTransfer();
        data.items.add(new File(["dropped notes"], "notes.md", { type: "text/markdown" }));
        dialog.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
        dialog.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
      }),
      visible(bFiles.getByRole("button", { name: "Download notes.md" })),
    );
    // B downloads it and gets the same bytes.
    const [download] = await Promise.all([B.waitForEvent("download"), bFiles.getByRole("button", { name: "Download notes.md" }).click()]);
    assert.equal(download.suggestedFilename(), "notes.md");
    const chunks = [];
    for await (const chunk of await download.createReadStream()) chunks.push(chunk);
    assert.equal(Buffer.concat(chunks).toString(), "dropped notes");
    await screenshot(B, "11-b-attachments");
    // B deletes one: A's list follows.
    await seenWithin(
      "attachment deleted",
      () => bFiles.getByRole("button", { name: "Delete spec-draft.txt" }).click(),
      gone(aFiles.getByRole("button", { name: "Download spec-draft.txt" })),
    );
    // A list read fresh (reopening) agrees: existing attachments are listed, not only new ones.
    await A.keyboard.press("Escape");
    await A.getByRole("dialog").waitFor({ state: "detached" });
    await A.reload();
    await A.getByRole("link", { name: "Review the spec", exact: true }).click();
    await A.getByRole("dialog").getByRole("button", { name: "Download notes.md" }).waitFor();
    assert.equal(await A.getByRole("dialog").getByTestId("attachment").count(), 1);
    await A.keyboard.press("Escape");
    await B.keyboard.press("Escape");
    await A.getByRole("dialog").waitFor({ state: "detached" });
    await B.getByRole("dialog").waitFor({ state: "detached" });
  });

  step("when A removes B from the board, B's page says B has lost access", async () => {
    const remove = A.getByRole("button", { name: `Remove ${bob.name}` });
    if (!(await remove.isVisible())) await A.getByRole("button", { name: "Settings and members" }).click();
    await seenWithin(
      "member removed",
      () => remove.click(),
      visible(B.getByRole("heading", { name: "You no longer have access to this board" })),
    );
    await screenshot(B, "06-b-access-lost");
  });

  step("profile: a password change without the current password shows the server's field message; a name change shows", async () => {
    await A.getByRole("link", { name: "Profile" }).click();
    // The profile form alone: the page also has the API tokens' and Delete account's fields.
    const profile = A.getByRole("form", { name: "Your profile" });
    await profile.getByLabel("New password").fill("a brand new secret");
    await profile.getByRole("button", { name: "Save profile" }).click();
    const current = profile.getByLabel("Current password");
    await A.waitForFunction(() => document.querySelector('input[name="current_password"]')?.getAttribute("aria-invalid") === "true");
    assert.match(await current.getAttribute("aria-describedby"), /error/);
    await profile.getByLabel("New password").fill("");
    await profile.getByLabel("Name").fill("Alice Renamed");
    await profile.getByRole("button", { name: "Save profile" }).click();
    await A.getByText("Profile saved.").waitFor();
    await A.locator(".signed-in-as", { hasText: "Alice Renamed" }).waitFor();
    await screenshot(A, "07-a-profile");
  });

  /**
   * An access token of the user signed in on `page`, for REST checks on their behalf: a login
   * of its own through the API (the page keeps its tokens out of reach: memory, and an HttpOnly cookie).
   */
  async function tokenOf(page) {
    const who = page === A ? alice : bob;
    return (await server.api("POST", "/auth/login", { body: { email: who.email, password: who.password } })).access_token;
  }
});
