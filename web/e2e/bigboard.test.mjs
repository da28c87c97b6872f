// A board with 5,000 tasks (4,800 of them in one column), against a real server with its
// rate limits on, in headless Chromium. It measures what a person waits for and asserts
// bounds with margins (the machine is shared; the figures are printed every run):
//   first cards on screen and the board fully loaded, after opening it;
//   DOM nodes and tab stops bounded by what is on screen; no page-long scroll;
//   add-task at the top of each column, column headers in view after scrolling a column;
//   main-thread time per live event; 50 remote edits at once;
//   a move and a keystroke in search reflected on screen.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { launchBrowser } from "./lib/browser.mjs";
import { skipUnlessRunnable } from "./lib/harness.mjs";
import { domFigures, mainThreadMs, timeInteraction, waitForSeq } from "./lib/perf.mjs";
import { boardWithWriters, createTasks, register } from "./lib/seed.mjs";
import { freePort, TaskflowServer } from "./lib/server.mjs";
import { artifactsDir, column, screenshot } from "./lib/ui.mjs";

const TASKS = 5000;
const statusOf = (i) => (i < 4800 ? "todo" : i < 4900 ? "in_progress" : "done");
// Goals from issue #16, and the bound asserted here (a margin for a shared 2-core machine).
const GOALS = {
  firstCardsMs: { goal: 500, bound: 1000 },
  loadedMs: { goal: 1000, bound: 2000 },
  eventMainThreadMs: { goal: 16, bound: 32 },
  moveMs: { goal: 100, bound: 200 },
  keystrokeMs: { goal: 100, bound: 200 },
  burstMs: { goal: 1000, bound: 3000 },
};
const skip = skipUnlessRunnable();

describe(`a board of ${TASKS} tasks`, { skip }, () => {
  const run = Date.now().toString(36);
  const figures = {};
  let server, browser, dataDir, page, cdp, seeded, remote, boardUrl;

  function record(name, value) {
    figures[name] = value;
    const goal = GOALS[name];
    console.log(`  ${name}: ${value}${goal ? ` (goal ${goal.goal}, asserted < ${goal.bound})` : ""}`);
    if (goal) assert.ok(value < goal.bound, `${name} = ${value}, bound ${goal.bound} (goal ${goal.goal})`);
  }

  const boardSeq = async () => (await server.api("GET", `/boards/${seeded.board.id}`, { token: remote.access_token })).seq;
  const firstTasks = async (status, limit) =>
    (await server.api("GET", `/tasks?board_id=${seeded.board.id}&status=${status}&sort=position&limit=${limit}`, {
      token: remote.access_token,
    })).items;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "taskflow-e2e-big-"));
    server = new TaskflowServer({ port: await freePort(), dataDir, logPath: path.join(artifactsDir, "server-big.log") });
    await server.start();
    seeded = await boardWithWriters(server, { run, writerCount: Math.ceil(TASKS / 560) });
    const seedMs = await createTasks(server, { boardId: seeded.board.id, count: TASKS, writers: seeded.writers, statusOf });
    console.log(`  seeded ${TASKS} tasks through POST /tasks in ${seedMs} ms (rate limits on, ${seeded.writers.length} editors)`);
    // Someone else on the board, making the "remote" changes the page must keep up with.
    const email = `remy-${run}@example.com`;
    remote = await register(server, { name: "Remy Remote", email, password: "remote password 1" });
    await server.api("POST", `/boards/${seeded.board.id}/members`, { token: seeded.owner.access_token, body: { email, role: "editor" } });
    boardUrl = `${server.baseUrl}/boards/${seeded.board.id}`;

    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(15_000);
    cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    await page.goto(`${server.baseUrl}/login`);
    await page.getByLabel("Email").fill(seeded.owner.email);
    await page.getByLabel("Password").fill(seeded.owner.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/boards$/);
  });

  after(async () => {
    console.log(`big board figures: ${JSON.stringify(figures)}`);
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("opens fast: first cards, then every task, without long main-thread blocks", async () => {
    // Record, from navigation start, when the first card shows and when the last page is in.
    await page.addInitScript(() => {
      const marks = (window.__tfOpen = { firstCard: null, loaded: null, longest: 0 });
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) marks.longest = Math.max(marks.longest, e.duration);
      }).observe({ type: "longtask", buffered: true });
      const check = () => {
        if (marks.firstCard === null && document.querySelector('[data-testid="task-card"]')) marks.firstCard = performance.now();
        const board = document.querySelector(".board-page");
        if (marks.firstCard !== null && board && !board.hasAttribute("data-loading")) {
          marks.loaded = performance.now();
          return;
        }
        requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    });
    await page.goto(boardUrl);
    await page.waitForFunction(() => window.__tfOpen.loaded !== null, null, { timeout: 30_000 });
    const open = await page.evaluate(() => window.__tfOpen);
    await column(page, "todo").getByRole("heading", { name: "To do (4800)" }).waitFor();
    await screenshot(page, "20-big-board");
    record("firstCardsMs", Math.round(open.firstCard));
    record("loadedMs", Math.round(open.loaded));
    record("longestTaskWhileOpeningMs", Math.round(open.longest));
  });

  it("keeps the DOM bounded by what is on screen; the page does not grow with the board", async () => {
    const dom = await domFigures(page);
    record("domNodes", dom.nodes);
    record("tabStops", dom.tabStops);
    record("pageHeightPx", dom.pageHeight);
    const cards = await page.getByTestId("task-card").count();
    record("cardsInDom", cards);
    assert.ok(cards < 120, `${cards} cards rendered for ${TASKS} tasks`);
    assert.ok(dom.nodes < 3000, `${dom.nodes} DOM nodes`);
    assert.ok(dom.tabStops < 700, `${dom.tabStops} tab stops`);
    assert.ok(dom.pageHeight < 2 * 900, `page is ${dom.pageHeight} px high`);
  });

  it("shows add-task at the top of each column, and keeps the column header in view when its list scrolls", async () => {
    for (const status of ["todo", "in_progress", "done"]) {
      const box = await column(page, status).getByRole("button", { name: "Add task" }).boundingBox();
      assert.ok(box && box.y + box.height < 900, `${status}: add task at y=${box?.y}`);
    }
    const scroller = page.getByTestId("column-scroll-todo");
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
    const last = column(page, "todo").getByRole("link", { name: `Task ${4799}`, exact: true });
    await last.waitFor();
    const heading = await column(page, "todo").getByRole("heading", { name: /To do/ }).boundingBox();
    assert.ok(heading && heading.y >= 0 && heading.y < 900, `heading at y=${heading?.y} after scrolling`);
    const dom = await domFigures(page);
    assert.ok(dom.nodes < 3000, `${dom.nodes} DOM nodes after scrolling to the end`);
    await screenshot(page, "21-big-board-scrolled");
    await scroller.evaluate((el) => (el.scrollTop = 0));
    await column(page, "todo").getByRole("link", { name: "Task 0", exact: true }).waitFor();
  });

  it("applies a live event in little main-thread time, and 50 at once quickly", async () => {
    const top = await firstTasks("todo", 60);
    // One at a time: main-thread time spent by the page per event, on cards that are on screen.
    const N = 10;
    const before = await mainThreadMs(cdp);
    for (let i = 0; i < N; i++) {
      await server.api("PATCH", `/tasks/${top[i].id}`, { token: remote.access_token, body: { title: `Edited live ${i}` } });
      await waitForSeq(page, await boardSeq());
    }
    const perEvent = (await mainThreadMs(cdp) - before) / N;
    await column(page, "todo").getByRole("link", { name: `Edited live ${N - 1}`, exact: true }).waitFor();
    record("eventMainThreadMs", Math.round(perEvent * 10) / 10);

    // 50 edits at once, from another member: time until the page has applied every one.
    const seq0 = await boardSeq();
    const t0 = performance.now();
    await Promise.all(
      top.slice(10, 60).map((t, i) =>
        server.api("PATCH", `/tasks/${t.id}`, { token: remote.access_token, body: { priority: "urgent", title: `Burst ${i}` } }),
      ),
    );
    await waitForSeq(page, seq0 + 50);
    record("burstMs", Math.round(performance.now() - t0));
    await column(page, "todo").getByRole("link", { name: "Burst 0", exact: true }).waitFor();
  });

  it("reflects a move within 100 ms (margin applied) and persists it", async () => {
    const title = "Edited live 0";
    const moveRight = page.getByRole("button", { name: `Move “${title}” to In progress` });
    const ms = await timeInteraction(page, {
      eventType: "click",
      arg: title,
      check: (t) =>
        [...document.querySelectorAll('[data-testid="column-in_progress"] .task-title')].some((e) => e.textContent === t),
      act: () => moveRight.click(),
    });
    record("moveMs", ms);
    const [first] = await firstTasks("in_progress", 200).then((items) => items.filter((t) => t.title === title));
    assert.ok(first, "the move reached the server");
  });

  it("filters 5,000 tasks as you type, each keystroke within 100 ms (margin applied)", async () => {
    const search = page.getByLabel("Search");
    await search.focus();
    const times = [];
    let typed = "";
    for (const ch of "479") {
      typed += ch;
      times.push(
        await timeInteraction(page, {
          eventType: "keydown",
          arg: typed,
          check: (value) => {
            const input = document.querySelector('input[name="q"]');
            const count = document.querySelector('[data-testid="filter-count"]');
            return input?.value === value && count !== null && count.getAttribute("data-query") === value;
          },
          act: () => page.keyboard.type(ch),
        }),
      );
    }
    figures.keystrokesMs = times;
    record("keystrokeMs", Math.max(...times));
    const expected = await server.api("GET", `/tasks?board_id=${seeded.board.id}&q=479&limit=200`, { token: remote.access_token });
    await page.getByTestId("filter-count").filter({ hasText: `Showing ${expected.items.length} of ${TASKS} tasks` }).waitFor();
    await search.fill("");
  });
});
