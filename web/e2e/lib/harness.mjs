// What every end-to-end file shares: the check that the server and the built client are
// there, one real server and one headless Chromium per suite, and stories told in steps.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import { launchBrowser } from "./browser.mjs";
import { freePort, TaskflowServer, taskflowBin, webDist } from "./server.mjs";
import { artifactsDir, screenshot } from "./ui.mjs";

/**
 * A suite's `skip` option: false when it can run, else what is missing. With
 * TASKFLOW_E2E_REQUIRED set (the test command) a missing piece throws instead.
 * `also`: more `[file, what to do]` pairs the suite needs.
 */
export function skipUnlessRunnable(also = []) {
  const missing = [[taskflowBin, "the server is not installed"], ...also,
    [path.join(webDist, "index.html"), "run npm run build"]]
    .filter(([file]) => !existsSync(file))
    .map(([file, what]) => `${file} (${what})`);
  if (missing.length && process.env.TASKFLOW_E2E_REQUIRED) {
    throw new Error(`end-to-end tests can't run: missing ${missing.join(", ")}`);
  }
  return missing.length ? `missing ${missing.join(", ")}` : false;
}

/** A new page in a context of its own (its own cookies: another user), 10 s timeouts. */
export async function newPage(browser, viewport = { width: 1280, height: 900 }) {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.setDefaultTimeout(10_000);
  return page;
}

/**
 * Registers the suite's hooks: a server on a fresh data directory (`env` added to its
 * environment, its log in artifacts/server-<name>.log), a browser and `pages` pages.
 * The returned object's `server`, `browser` and `pages` are set by the time tests run.
 */
export function serverAndBrowser(name, { env = {}, pages = 1 } = {}) {
  const suite = { server: null, browser: null, pages: [] };
  let dataDir = null;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), `taskflow-e2e-${name}-`));
    suite.server = new TaskflowServer({
      port: await freePort(), dataDir, env, logPath: path.join(artifactsDir, `server-${name}.log`),
    });
    await suite.server.start();
    suite.browser = await launchBrowser();
    for (let i = 0; i < pages; i++) suite.pages.push(await newPage(suite.browser));
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  return suite;
}

/**
 * `step(name, fn)` for a story told in order: once a step fails, the later ones (which
 * build on it) are skipped, and each of `pages()` is saved as artifacts/<prefix>-<i>.png.
 */
export function storySteps(prefix, pages) {
  let failed = null;
  return function step(name, fn) {
    it(name, async (t) => {
      if (failed) return t.skip(`an earlier step failed: ${failed}`);
      try {
        await fn();
      } catch (err) {
        failed = name;
        for (const [i, page] of pages().entries()) {
          if (page) await screenshot(page, `${prefix}-${i + 1}`).catch(() => undefined);
        }
        throw err;
      }
    });
  };
}
