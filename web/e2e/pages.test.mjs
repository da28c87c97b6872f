// Forms, messages, accessibility, phones: what a new user meets on every page, in headless
// Chromium against a real server.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { launchBrowser } from "./lib/browser.mjs";
import { freePort, TaskflowServer, taskflowBin, webDist } from "./lib/server.mjs";
import { artifactsDir, createBoard, screenshot, signUp } from "./lib/ui.mjs";

const missing = [
  !existsSync(taskflowBin) && `${taskflowBin} (the server is not installed)`,
  !existsSync(path.join(webDist, "index.html")) && `${webDist}/index.html (run npm run build)`,
].filter(Boolean);
if (missing.length && process.env.TASKFLOW_E2E_REQUIRED) {
  throw new Error(`end-to-end tests can't run: missing ${missing.join(", ")}`);
}

describe("pages, forms and messages", { skip: missing.length ? `missing ${missing.join(", ")}` : false }, () => {
  const run = Date.now().toString(36);
  const carol = { name: "Carol Newcomer", email: `carol-${run}@example.com`, password: "carol password 1" };
  const dave = { name: "Dave Second", email: `dave-${run}@example.com`, password: "dave password 1" };
  let server, browser, dataDir, page;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "taskflow-e2e-pages-"));
    server = new TaskflowServer({ port: await freePort(), dataDir, logPath: path.join(artifactsDir, "server-pages.log") });
    await server.start();
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
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
    const alert = page.getByRole("alert").filter({ hasText: "The server can't be reached" });
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
});
