// Forms, messages, accessibility, phones: what a new user meets on every page, in headless
// Chromium against a real server.
import assert from "node:assert/strict";
import path from "node:path";
import { before, describe, it } from "node:test";
import { seriousViolations } from "./lib/axe.mjs";
import { serverAndBrowser, skipUnlessRunnable } from "./lib/harness.mjs";
import { createBoard, screenshot, signUp } from "./lib/ui.mjs";

const skip = skipUnlessRunnable();

describe("pages, forms and messages", { skip }, () => {
  const run = Date.now().toString(36);
  const carol = { name: "Carol Newcomer", email: `carol-${run}@example.com`, password: "carol password 1" };
  const dave = { name: "Dave Second", email: `dave-${run}@example.com`, password: "dave password 1" };
  let server, page;

  // Every page load resumes its session with POST /auth/refresh, and every browser here comes
  // from 127.0.0.1, like an office behind one NAT: more room per address than the default 60/minute.
  const suite = serverAndBrowser("pages", { env: { TASKFLOW_RATE_LIMIT_AUTH_ADDRESS: "600/minute;6000/hour" } });
  before(() => {
    ({ server } = suite);
    [page] = suite.pages;
  });


  const fieldError = async (label) => {
    const input = page.getByLabel(label, { exact: true });
    const ids = ((await input.getAttribute("aria-describedby")) ?? "").split(" ").filter((id) => id.endsWith("-error"));
    if (ids.length === 0) return null;
    return page.locator(`[id="${ids[0]}"]`).textContent();
  };

  it("sign-up checks in the browser first, in plain words next to each field", async () => {
    const registers = [];
    page.on("request", (r) => r.url().endsWith("/auth/register") && registers.push(r));
    await page.goto(`${server.baseUrl}/signup`);
    await page.getByRole("button", { name: "Create account" }).click();
    assert.equal(await fieldError("Name"), "Enter your name.");
    assert.equal(await fieldError("Email"), "Enter an email address.");
    assert.equal(await fieldError("Password"), "Use at least 8 characters.");
    await page.waitForFunction(() => document.activeElement?.getAttribute("name") === "name");
    await page.getByLabel("Name").fill(carol.name);
    assert.equal(await fieldError("Name"), null, "editing a field clears its message");
    await page.getByLabel("Email").fill("carol");
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    assert.equal(await fieldError("Email"), "Enter an email address like name@example.com.");
    assert.equal(await fieldError("Password"), "Use at least 8 characters.");
    assert.equal(registers.length, 0, "nothing was sent while the form had mistakes");
    await screenshot(page, "30-signup-messages");
    assert.equal(await page.getByText(/body\.|String should|value is not/).count(), 0, "no developer wording");
  });

  it("a taken email is said at the email field; signing up works once it is fixed", async () => {
    await signUp(page, server.baseUrl, dave);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await page.goto(`${server.baseUrl}/signup`);
    await page.getByLabel("Name").fill(carol.name);
    await page.getByLabel("Email").fill(dave.email);
    await page.getByLabel("Password").fill(carol.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForFunction(() => document.querySelector('input[name="email"]')?.getAttribute("aria-invalid") === "true");
    assert.match(await fieldError("Email"), /already exists/);
    await page.getByLabel("Email").fill(carol.email);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(/\/boards$/);
  });

  it("a network failure says so plainly, and the message goes once the next try succeeds", async () => {
    await page.getByLabel("Board name").fill("Offline board");
    await page.context().setOffline(true);
    await page.getByRole("button", { name: "Create board" }).click();
    // The form's own message (a page-level one may show beside it when a background read
    // of the boards fails too while offline).
    const alert = page.getByRole("form", { name: "New board" }).getByRole("alert")
      .filter({ hasText: "The server can't be reached" });
    await alert.waitFor();
    assert.doesNotMatch(await alert.textContent(), /Failed to fetch/);
    await page.context().setOffline(false);
    await createBoard(page, "Offline board");
    assert.equal(await page.getByText("The server can't be reached").count(), 0);
  });

  it("adding an unknown member is explained at the field; the message clears after a later success", async () => {
    await page.getByRole("button", { name: "Settings and members" }).click();
    await page.getByLabel("Member email").fill(`nobody-${run}@example.com`);
    await page.getByRole("button", { name: "Add member" }).click();
    await page.waitForFunction(() => document.querySelector('input[name="email"]')?.getAttribute("aria-invalid") === "true");
    assert.match(await fieldError("Member email"), /No TaskFlow account uses this email/);
    await page.getByLabel("Member email").fill(dave.email);
    await page.getByRole("button", { name: "Add member" }).click();
    await page.getByText(`${dave.name} was added as editor.`).waitFor();
    assert.equal(await fieldError("Member email"), null);
    assert.equal(await page.getByText("No TaskFlow account").count(), 0);
  });

  it("on phones: nothing wider than the screen at 360 px, column tabs, 44 px targets, a dialog that fits", async () => {
    const token = (await server.api("POST", "/auth/login", { body: { email: carol.email, password: carol.password } })).access_token;
    const boardId = new URL(page.url()).pathname.split("/").pop();
    const long = "A-very-long-title-with-no-spaces-at-all-that-should-wrap-instead-of-spilling-across-columns";
    const tasks = [];
    for (const [title, status] of [[long, "todo"], ["Phone task", "todo"], ["Started on the phone", "in_progress"]]) {
      tasks.push(await server.api("POST", "/tasks", { token, body: { board_id: boardId, title, status } }));
    }
    const phone = await (await suite.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })).newPage();
    phone.setDefaultTimeout(10_000);
    const overflow = () => phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const pages = [];
    for (const url of ["/login", "/signup"]) {
      await phone.goto(`${server.baseUrl}${url}`);
      await phone.getByRole("heading", { level: 1 }).waitFor();
      pages.push([url, await overflow()]);
    }
    await phone.goto(`${server.baseUrl}/login`);
    await phone.getByLabel("Email").fill(carol.email);
    await phone.getByLabel("Password").fill(carol.password);
    await phone.getByRole("button", { name: "Sign in" }).click();
    await phone.waitForURL(/\/boards$/);
    pages.push(["/boards", await overflow()]);
    for (const url of ["/profile", "/no-such-page", `/boards/${boardId}`, `/boards/${boardId}/tasks/${tasks[0].id}`]) {
      await phone.goto(`${server.baseUrl}${url}`);
      await phone.getByRole("heading", { level: 1 }).first().waitFor();
      if (url.includes("/tasks/")) await phone.getByRole("dialog").waitFor();
      pages.push([url, await overflow()]);
    }
    console.log(`  horizontal overflow at 360 px (px): ${JSON.stringify(pages)}`);
    for (const [url, px] of pages) assert.ok(px <= 0, `${url} is ${px} px wider than the screen`);

    // The dialog fits: its close button and its last control are on screen horizontally.
    const dialogBox = await phone.getByRole("dialog").boundingBox();
    assert.ok(dialogBox.x >= 0 && dialogBox.x + dialogBox.width <= 360, `dialog at x=${dialogBox.x} w=${dialogBox.width}`);
    const close = await phone.getByRole("button", { name: "Close task" }).boundingBox();
    assert.ok(close.x + close.width <= 360 && close.y >= 0, "close button on screen");
    await screenshot(phone, "31-phone-dialog");
    await phone.getByRole("button", { name: "Close task" }).click();
    await phone.getByRole("dialog").waitFor({ state: "detached" });

    // 390 x 844: the header fits, "Sign out" is on screen; columns are tabs.
    await phone.setViewportSize({ width: 390, height: 844 });
    const signOut = await phone.getByRole("button", { name: "Sign out" }).boundingBox();
    assert.ok(signOut.x + signOut.width <= 390, `Sign out at x=${signOut.x}`);
    const tab = phone.getByRole("tab", { name: /In progress/ });
    await tab.click();
    const started = phone.getByRole("tabpanel").getByRole("link", { name: "Started on the phone", exact: true });
    await started.waitFor();
    const startedBox = await started.boundingBox();
    assert.ok(startedBox.y < 844, `the In progress column's first card is at y=${startedBox.y}, on the first screen`);
    // Touch targets: the move buttons and tabs are at least 44 x 44 px.
    for (const target of [phone.getByRole("button", { name: "Move “Started on the phone” to Done" }), tab]) {
      const box = await target.boundingBox();
      assert.ok(box.width >= 44 && box.height >= 44, `target is ${box.width} x ${box.height}`);
    }
    // One tap moves a card across: it shows in the Done tab.
    await phone.getByRole("button", { name: "Move “Started on the phone” to Done" }).tap();
    await phone.getByRole("tab", { name: /Done \(1\)/, selected: true }).waitFor();
    await phone.getByRole("tabpanel").getByRole("link", { name: "Started on the phone", exact: true }).waitFor();
    await screenshot(phone, "32-phone-board");
    // Touch drag: a finger drags "Phone task" by its handle onto the In progress tab, then into its list.
    await phone.getByRole("tab", { name: /To do/ }).tap();
    const handle = phone.getByTestId("task-card").filter({ hasText: "Phone task" }).getByTestId("drag-handle");
    await handle.scrollIntoViewIfNeeded();
    const from = await handle.boundingBox();
    const tabBox = await phone.getByRole("tab", { name: /In progress/ }).boundingBox(); // after scrolling: both on screen
    assert.ok(tabBox.y >= 0, "the tabs are on screen while dragging");
    const cdp = await phone.context().newCDPSession(phone);
    const touch = (type, x, y) => cdp.send("Input.dispatchTouchEvent", { type, touchPoints: type === "touchEnd" ? [] : [{ x, y }] });
    const path = (a, b, steps) => Array.from({ length: steps }, (_, i) => [a.x + ((b.x - a.x) * (i + 1)) / steps, a.y + ((b.y - a.y) * (i + 1)) / steps]);
    const start = { x: from.x + from.width / 2, y: from.y + from.height / 2 };
    const onTab = { x: tabBox.x + tabBox.width / 2, y: tabBox.y + tabBox.height / 2 };
    await touch("touchStart", start.x, start.y);
    for (const [x, y] of path(start, onTab, 8)) await touch("touchMove", x, y);
    await phone.getByRole("tab", { name: /In progress/, selected: true }).waitFor(); // hovering a tab opens it
    const list = await phone.getByTestId("column-scroll-in_progress").boundingBox();
    const inList = { x: list.x + list.width / 2, y: list.y + 20 };
    for (const [x, y] of path(onTab, inList, 6)) await touch("touchMove", x, y);
    await touch("touchEnd", inList.x, inList.y);
    await phone.getByRole("tabpanel").getByRole("link", { name: "Phone task", exact: true }).waitFor();
    await phone.getByRole("tab", { name: /In progress \(1\)/ }).waitFor();
    // Keyboard: arrow keys move between tabs.
    await phone.getByRole("tab", { name: /Done/ }).focus();
    await phone.keyboard.press("ArrowLeft");
    await phone.getByRole("tab", { name: /In progress/, selected: true }).waitFor();
    await phone.context().close();
  });

  it("axe-core finds no serious or critical violation on any page, desktop or phone; the favicon exists", async () => {
    const report = [];
    const check = async (p, label) => {
      const found = await seriousViolations(p);
      report.push(`${label}: ${found.length}`);
      assert.deepEqual(found, [], `${label}`);
    };
    const fresh = await (await suite.browser.newContext()).newPage();
    const notFound = [];
    fresh.on("response", (r) => r.status() === 404 && notFound.push(r.url()));
    await fresh.goto(`${server.baseUrl}/login`);
    await fresh.getByRole("heading", { name: "Sign in" }).waitFor();
    await check(fresh, "sign in");
    await fresh.getByRole("button", { name: "Sign in" }).click(); // with its error messages showing
    await check(fresh, "sign in, errors");
    await fresh.goto(`${server.baseUrl}/signup`);
    await fresh.getByRole("heading", { name: "Create an account" }).waitFor();
    await check(fresh, "sign up");
    assert.deepEqual(notFound, [], "nothing 404s (favicon included)");
    assert.equal((await fetch(`${server.baseUrl}/favicon.svg`)).status, 200);
    await fresh.context().close();

    // Signed in (carol, who owns "Offline board" with tasks and a member): some avatars on cards.
    const token = (await server.api("POST", "/auth/login", { body: { email: carol.email, password: carol.password } })).access_token;
    const boardId = new URL(page.url()).pathname.split("/").pop();
    const board = await server.api("GET", `/boards/${boardId}`, { token });
    const onBoard = await server.api("GET", `/tasks?board_id=${boardId}`, { token });
    for (const [i, task] of onBoard.items.entries()) {
      const member = board.members[i % board.members.length];
      await server.api("PATCH", `/tasks/${task.id}`, { token, body: { assignee_id: member.user_id } });
    }
    await page.goto(`${server.baseUrl}/boards`);
    await page.getByRole("heading", { name: "Boards" }).waitFor();
    await check(page, "boards");
    await page.getByRole("link", { name: /Offline board/ }).click();
    await page.getByRole("heading", { level: 1, name: "Offline board" }).waitFor();
    await page.getByTestId("task-card").first().waitFor();
    await check(page, "board");
    await page.getByRole("button", { name: "Settings and members" }).click();
    await check(page, "board, settings and members");
    await page.getByRole("link", { name: "Phone task", exact: true }).click();
    await page.getByRole("dialog").getByText("No files attached.").waitFor();
    await check(page, "task dialog");
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").waitFor({ state: "detached" });
    await page.getByLabel("Search").fill("Phone");
    await check(page, "board, filtered");
    await page.goto(`${server.baseUrl}/profile`);
    await page.getByRole("heading", { name: "Profile" }).waitFor();
    await check(page, "profile");
    await page.goto(`${server.baseUrl}/nowhere`);
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
    await check(page, "not found");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goBack();
    await page.goto(`${server.baseUrl}/boards`);
    await page.getByRole("link", { name: /Offline board/ }).click();
    await page.getByRole("tablist", { name: "Columns" }).waitFor();
    await check(page, "board on a phone");
    await page.setViewportSize({ width: 1280, height: 900 });
    console.log(`  axe serious+critical violations: ${report.join(", ")}`);
  });

  it("after moving to another page, focus is on its heading, not left on the body", async () => {
    await page.goto(`${server.baseUrl}/boards`);
    await page.getByRole("heading", { name: "Boards" }).waitFor();
    await page.getByRole("link", { name: /Offline board/ }).click();
    await page.waitForFunction(() => document.activeElement?.tagName === "H1" && document.activeElement.textContent === "Offline board");
    await page.getByRole("link", { name: "Profile" }).click();
    await page.waitForFunction(() => document.activeElement?.tagName === "H1" && document.activeElement.textContent === "Profile");
    // Closing a task puts focus back on its card.
    await page.goBack();
    await page.getByRole("link", { name: "Phone task", exact: true }).click();
    await page.getByRole("dialog").waitFor();
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => document.activeElement?.textContent === "Phone task");
    // Long titles wrap inside their card instead of spilling across columns.
    const spill = await page.getByTestId("task-card").first().evaluate((el) => el.scrollWidth - el.clientWidth);
    assert.ok(spill <= 0, `a card is ${spill} px wider than its column`);
  });

  it("a task link opened in a new tab opens the task, signed in; the refresh token is out of script's reach", async () => {
    const cookies = await page.context().cookies();
    const refresh = cookies.find((c) => c.name === "taskflow_refresh");
    assert.ok(refresh, "the refresh cookie is set");
    assert.deepEqual(
      { httpOnly: refresh.httpOnly, secure: refresh.secure, sameSite: refresh.sameSite, path: refresh.path },
      { httpOnly: true, secure: true, sameSite: "Strict", path: "/api/v1/auth" },
    );
    assert.equal(await page.evaluate(() => document.cookie.includes("taskflow_refresh")), false);
    assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0, "no tokens in web storage");
    await page.goto(`${server.baseUrl}/boards`);
    await page.getByRole("link", { name: /Offline board/ }).click();
    const link = page.getByRole("link", { name: "Phone task", exact: true });
    const href = await link.getAttribute("href");
    const tab = await page.context().newPage(); // as "open in new tab" does: same browser, empty page memory
    await tab.goto(`${server.baseUrl}${href}`);
    await tab.getByRole("dialog").getByRole("heading", { name: "Phone task" }).waitFor();
    assert.match(tab.url(), /\/tasks\//, "not sent to the sign-in page");
    // A reload resumes too.
    await tab.reload();
    await tab.getByRole("dialog").getByRole("heading", { name: "Phone task" }).waitFor();
    // Signing out in one tab signs out the other at once.
    await tab.keyboard.press("Escape");
    await tab.getByRole("button", { name: "Sign out" }).click();
    await tab.waitForURL(/\/login$/);
    await page.waitForURL(/\/login$/, { timeout: 5000 });
    await tab.close();
  });
});
