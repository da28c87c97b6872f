// A board's webhooks in the web client, in headless Chromium against a real server and a
// receiver this file starts on 127.0.0.1: the owner adds one from Settings and members and
// sees its secret once; a new task reaches the receiver signed, and the Deliveries view says
// so; a receiver answering 500 makes it failing, then disabled with the reason on screen;
// enabled again it delivers the missed event; edited to another URL and one event type, it
// sends the next task there; disabled and deleted by the owner. An editor
// sees no Webhooks section. The panel fits a 360 px phone; axe on the way.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { after, before, describe } from "node:test";
import { seriousViolations } from "./lib/axe.mjs";
import { newPage, serverAndBrowser, skipUnlessRunnable, storySteps } from "./lib/harness.mjs";
import { createBoard, createTask, screenshot, signUp } from "./lib/ui.mjs";

const skip = skipUnlessRunnable();

/** An HTTP receiver answering `status` (changeable) and recording every request. */
async function startReceiver() {
  const receiver = { status: 200, requests: [], url: "" };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const status = receiver.status;
      receiver.requests.push({ method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks), status });
      res.writeHead(status, { "Content-Type": "text/plain" });
      res.end(status === 200 ? "ok" : "broken");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  receiver.url = `http://127.0.0.1:${server.address().port}/hooks/taskflow`;
  receiver.close = async () => {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  };
  return receiver;
}

/** Standard Webhooks: v1,base64(HMAC-SHA256(key, "id.timestamp.body")) among the signatures sent. */
function signedWith(secret, { headers, body }) {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const mac = createHmac("sha256", key).update(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.`).update(body).digest("base64");
  return headers["webhook-signature"].split(" ").includes(`v1,${mac}`);
}

const eventOf = (request) => JSON.parse(request.body.toString("utf8"));

describe("webhooks in the web client", { skip }, () => {
  const run = Date.now().toString(36);
  const olga = { name: "Olga Owner", email: `olga-${run}@example.com`, password: "olga password 1" };
  const eddie = { name: "Eddie Editor", email: `eddie-${run}@example.com`, password: "eddie password 1" };
  let server, page, receiver, moved, hookUrl, boardId, ownerToken, secret, missedSeq;

  const suite = serverAndBrowser("webhooks", {
    env: {
      TASKFLOW_WEBHOOK_ALLOW_PRIVATE: "1", // the receiver is on loopback
      TASKFLOW_WEBHOOK_RETRY_WINDOW_SECONDS: "10", // the shortest: a failing webhook is disabled soon
      TASKFLOW_RATE_LIMIT_AUTH_ADDRESS: "600/minute;6000/hour",
    },
  });
  before(async () => {
    ({ server } = suite);
    [page] = suite.pages;
    receiver = await startReceiver();
    moved = await startReceiver();
    hookUrl = receiver.url;
  });
  after(async () => {
    await receiver?.close();
    await moved?.close();
  });
  const step = storySteps("webhooks-failure", () => [page]);
  const rest = (method, apiPath, token, body) => fetch(`${server.baseUrl}/api/v1${apiPath}`, {
    method, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const section = () => page.getByRole("region", { name: "Webhooks", exact: true });
  const hook = () => section().getByRole("list", { name: "Webhooks of this board" }).getByRole("listitem").filter({ hasText: hookUrl });
  const deliveries = () => hook().getByRole("list", { name: /^Last deliveries to / }).getByRole("listitem");

  step("the owner's Settings and members has a Webhooks section whose form refuses bad URLs next to the field", async () => {
    await signUp(page, server.baseUrl, olga);
    boardId = await createBoard(page, "Hooked board");
    ownerToken = (await (await rest("POST", "/auth/login", null, { email: olga.email, password: olga.password })).json()).access_token;
    assert.ok(ownerToken);
    await page.getByRole("button", { name: "Settings and members" }).click();
    await section().getByText("No webhooks yet.").waitFor();
    const form = section().getByRole("form", { name: "New webhook" });
    const url = form.getByLabel("Webhook URL");

    await url.fill("ftp://example.com/hook");
    await form.getByRole("button", { name: "Add webhook" }).click();
    await form.getByText("Enter a URL that starts with http:// or https://.").waitFor();
    assert.equal(await url.getAttribute("aria-invalid"), "true");

    await form.getByLabel("Only the events chosen below").check();
    await url.fill("http://169.254.169.254/latest/meta-data");
    await form.getByRole("button", { name: "Add webhook" }).click();
    await form.getByText("Choose at least one event type, or All events.").waitFor();
    await form.getByRole("checkbox", { name: "task:created" }).check();
    await form.getByRole("button", { name: "Add webhook" }).click();
    // Refused by the server (a cloud metadata address, even with private addresses allowed).
    const refusal = form.locator(".field-error");
    await refusal.filter({ hasText: /metadata/i }).waitFor();
    assert.equal(await url.getAttribute("aria-invalid"), "true");
    assert.equal((await url.getAttribute("aria-describedby")).includes(await refusal.getAttribute("id")), true, "the refusal describes the field");
    const listed = await (await rest("GET", `/boards/${boardId}/webhooks`, ownerToken)).json();
    assert.deepEqual(listed.items, [], "nothing was made");
  });

  step("a webhook for all events to a local receiver: its secret is shown once", async () => {
    const form = section().getByRole("form", { name: "New webhook" });
    await form.getByLabel("Webhook URL").fill(receiver.url);
    await form.getByLabel("All events").check();
    await form.getByRole("button", { name: "Add webhook" }).click();
    secret = await section().getByLabel("Signing secret").inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    await hook().getByText("Events: All events").waitFor();
    await hook().getByText("State: Active").waitFor();
    assert.equal(await form.getByLabel("Webhook URL").inputValue(), "", "the form is cleared");
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
    await screenshot(page, "80-webhook-secret");
    await section().getByRole("button", { name: "Done" }).click();
    assert.equal(await section().getByLabel("Signing secret").count(), 0, "the secret is not shown again");
    const listed = await (await rest("GET", `/boards/${boardId}/webhooks`, ownerToken)).json();
    assert.equal(listed.items.length, 1);
    assert.deepEqual(listed.items[0].events, ["*"]);
    assert.equal(listed.items[0].secret, undefined);
  });

  step("a new task reaches the receiver signed, and Deliveries shows it succeeded", async () => {
    await createTask(page, "todo", "Ship the webhooks UI");
    await hook().getByRole("button", { name: "Deliveries" }).click();
    await deliveries().filter({ hasText: "Succeeded" }).filter({ hasText: "task:created" }).filter({ hasText: "response 200" })
      .first().waitFor({ timeout: 30_000 });
    const got = receiver.requests.find((r) => r.status === 200 && eventOf(r).type === "task:created");
    assert.ok(got, "the receiver got the task:created event");
    assert.equal(got.method, "POST");
    assert.equal(eventOf(got).data.title, "Ship the webhooks UI");
    assert.equal(eventOf(got).board_id, boardId);
    assert.match(got.headers["webhook-id"], /^msg_/);
    assert.match(got.headers["webhook-timestamp"], /^\d+$/);
    assert.ok(Math.abs(Date.now() / 1000 - Number(got.headers["webhook-timestamp"])) < 300);
    assert.ok(signedWith(secret, got), "webhook-signature is the HMAC of the body with the secret shown");
    assert.ok(!signedWith(`whsec_${Buffer.alloc(32).toString("base64")}`, got), "and not with another key");
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
    await screenshot(page, "81-webhook-deliveries");
  });

  step("a receiver answering 500: the webhook is failing, then disabled with the reason shown", async () => {
    receiver.status = 500;
    await createTask(page, "todo", "Break the receiver");
    await deliveries().filter({ hasText: "Failed" }).filter({ hasText: "response 500" }).filter({ hasText: "Error: status 500" })
      .first().waitFor({ timeout: 30_000 });
    const failed = receiver.requests.find((r) => r.status === 500);
    missedSeq = eventOf(failed).seq;
    await hook().getByText(/State: Failing since .+; next attempt/).waitFor({ timeout: 15_000 });
    // The server's retry window is 10 s here: then it gives up and says why.
    await hook().getByText("State: Disabled by TaskFlow: deliveries kept failing.", { exact: false }).waitFor({ timeout: 60_000 });
    const reason = hook().locator(".webhook-reason");
    assert.match(await reason.textContent(), new RegExp(`status 500 \\(event seq ${missedSeq}\\).*failing since`));
    await hook().getByRole("button", { name: "Enable" }).waitFor();
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
    await screenshot(page, "82-webhook-disabled");
  });

  step("the owner is notified live; the notification leads to the board's Webhooks section", async () => {
    await page.getByRole("button", { name: "Hide settings and members" }).click();
    await section().waitFor({ state: "detached" });
    const bell = page.getByTestId("notification-bell");
    await page.waitForFunction(() => !document.querySelector('[data-testid="notification-bell"]')?.getAttribute("aria-label")?.endsWith(" 0 unread"));
    await bell.click();
    const item = page.getByRole("region", { name: "Notifications" }).getByRole("button")
      .filter({ hasText: "A webhook of your board was disabled" });
    await item.filter({ hasText: receiver.url }).filter({ hasText: "status 500" }).waitFor();
    assert.equal(await item.count(), 1, "one notification for one disabling");
    const markedRead = page.waitForResponse((r) => /\/notifications\/[^/]+\/read$/.test(new URL(r.url()).pathname));
    await item.click();
    assert.equal((await markedRead).status(), 200);
    await section().waitFor();
    assert.match(page.url(), new RegExp(`/boards/${boardId}#webhooks$`));
    await page.waitForFunction(() => document.activeElement?.id === "webhooks-title");
    await hook().getByText("State: Disabled by TaskFlow", { exact: false }).waitFor();
    const [mine] = (await (await rest("GET", "/notifications", ownerToken)).json()).items
      .filter((n) => n.type === "webhook_disabled");
    assert.deepEqual([mine.task_id, mine.actor, mine.read_at !== null], [null, null, true]);
    // The section was read afresh, so its Deliveries view is closed; the next steps read it.
    await hook().getByRole("button", { name: "Deliveries" }).click();
    await deliveries().filter({ hasText: "Failed" }).first().waitFor();
  });

  step("on a 360 px phone the Webhooks section, its reason and deliveries fit the screen", async () => {
    const phone = await (await suite.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })).newPage();
    phone.setDefaultTimeout(10_000);
    try {
      await phone.goto(`${server.baseUrl}/login`);
      await phone.getByLabel("Email").fill(olga.email);
      await phone.getByLabel("Password").fill(olga.password);
      await phone.getByRole("button", { name: /Log in|Sign in/ }).click();
      await phone.waitForURL(/\/boards$/);
      await phone.goto(`${server.baseUrl}/boards/${boardId}`);
      await phone.getByRole("button", { name: "Settings and members" }).click();
      const item = phone.getByRole("region", { name: "Webhooks", exact: true }).getByRole("listitem").filter({ hasText: receiver.url });
      await item.locator(".webhook-reason").waitFor();
      await item.getByRole("button", { name: "Deliveries" }).click();
      await item.getByRole("list", { name: /^Last deliveries to / }).getByRole("listitem").filter({ hasText: "Failed" }).first().waitFor();
      await phone.getByRole("region", { name: "Webhooks", exact: true }).getByLabel("Only the events chosen below").check();
      const overflow = await phone.evaluate(() => {
        const wide = [];
        for (const el of document.querySelectorAll("#board-settings, #board-settings *")) {
          const r = el.getBoundingClientRect();
          if (r.width > 0 && (r.right > window.innerWidth + 1 || r.left < -1)) wide.push(`${el.tagName}.${el.className}`);
        }
        return { wide, scrollWidth: document.documentElement.scrollWidth };
      });
      assert.deepEqual(overflow.wide, []);
      assert.ok(overflow.scrollWidth <= 360, `the page is ${overflow.scrollWidth} px wide`);
      const violations = await seriousViolations(phone);
      assert.deepEqual(violations, [], violations.join("\n"));
      await screenshot(phone, "83-webhooks-phone");
    } finally {
      await phone.context().close();
    }
  });

  step("enabled again with the receiver fixed, it delivers the missed event under the same webhook-id", async () => {
    receiver.status = 200;
    await hook().getByRole("button", { name: "Enable" }).click();
    await section().getByText(`The webhook to ${receiver.url} is enabled again`).waitFor();
    await hook().getByText("State: Active").waitFor();
    await deliveries().filter({ hasText: "Succeeded" }).filter({ hasText: `(event ${missedSeq})` }).first().waitFor({ timeout: 30_000 });
    const attempts = receiver.requests.filter((r) => eventOf(r).seq === missedSeq);
    assert.ok(attempts.length >= 2, "a failed attempt, then the successful one");
    assert.equal(new Set(attempts.map((r) => r.headers["webhook-id"])).size, 1, "one webhook-id for every attempt at the event");
    assert.equal(attempts.at(-1).status, 200);
    assert.equal(eventOf(attempts.at(-1)).data.title, "Break the receiver");
  });

  step("edited to a new URL and one event type: the next task goes there, signed with the same secret", async () => {
    await hook().getByRole("button", { name: "Edit" }).click();
    const form = section().getByRole("form", { name: `Edit the webhook to ${receiver.url}` });
    const url = form.getByLabel("Webhook URL");
    assert.equal(await url.evaluate((input) => input === document.activeElement), true, "focus in the URL field");
    assert.equal(await url.inputValue(), receiver.url);
    assert.equal(await form.getByLabel("All events").isChecked(), true);
    // The server's refusal shows next to the field here too, and changes nothing.
    await url.fill("http://169.254.169.254/latest/meta-data");
    await form.getByRole("button", { name: "Save" }).click();
    await form.locator(".field-error").filter({ hasText: /metadata/i }).waitFor();
    assert.equal(await url.getAttribute("aria-invalid"), "true");
    await url.fill(moved.url);
    await form.getByLabel("Only the events chosen below").check();
    await form.getByRole("checkbox", { name: "task:created" }).check();
    await form.getByRole("button", { name: "Save" }).click();
    await section().getByText(`The webhook to ${moved.url} is saved`).waitFor();
    hookUrl = moved.url;
    await form.waitFor({ state: "detached" });
    await hook().getByText("Events: task:created").waitFor();
    await page.waitForFunction(() => document.activeElement?.textContent?.startsWith("Edit"), null, { timeout: 2000 }); // back on Edit
    const [listed] = (await (await rest("GET", `/boards/${boardId}/webhooks`, ownerToken)).json()).items;
    assert.deepEqual([listed.url, listed.events, listed.active], [moved.url, ["task:created"], true]);

    const before = receiver.requests.length;
    await createTask(page, "todo", "After the move");
    await deliveries().filter({ hasText: "Succeeded" }).filter({ hasText: "task:created" })
      .filter({ hasText: `(event ${listed.last_delivered_seq + 1})` }).first().waitFor({ timeout: 30_000 });
    assert.equal(moved.requests.length, 1);
    const [request] = moved.requests;
    assert.equal(signedWith(secret, request), true, "signed with the secret shown at creation");
    assert.deepEqual([eventOf(request).type, eventOf(request).data.title], ["task:created", "After the move"]);
    assert.equal(receiver.requests.length, before, "nothing more to the old URL");
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
  });

  step("disabled by the owner, it is marked disabled, with no reason from the server", async () => {
    await hook().getByRole("button", { name: "Disable" }).click();
    await section().getByText(`The webhook to ${hookUrl} is disabled.`).waitFor();
    await hook().getByText("State: Disabled.", { exact: false }).waitFor();
    assert.equal(await hook().locator(".webhook-reason").count(), 0);
    await hook().getByRole("button", { name: "Enable" }).waitFor();
    const [listed] = (await (await rest("GET", `/boards/${boardId}/webhooks`, ownerToken)).json()).items;
    assert.equal(listed.active, false);
  });

  step("deleted after a confirm step (Cancel keeps it)", async () => {
    await hook().getByRole("button", { name: "Delete" }).click();
    const confirm = hook().getByRole("group", { name: "Confirm webhook deletion" });
    await confirm.getByText(`Delete the webhook to ${hookUrl} and its delivery log?`).waitFor();
    assert.equal(await confirm.getByRole("button", { name: "Cancel" }).evaluate((b) => b === document.activeElement), true,
      `focus is on Cancel, not on the destructive button: ${await page.evaluate(() => document.activeElement?.outerHTML?.slice(0, 300))}`);
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await page.waitForFunction(() => document.activeElement?.textContent?.startsWith("Delete"), null, { timeout: 2000 }); // back on Delete
    await hook().getByRole("button", { name: "Delete" }).click();
    await hook().getByRole("group", { name: "Confirm webhook deletion" }).getByRole("button", { name: "Yes, delete webhook" }).click();
    await section().getByText("No webhooks yet.").waitFor();
    await section().getByText(`The webhook to ${hookUrl} was deleted.`).waitFor();
    const listed = await (await rest("GET", `/boards/${boardId}/webhooks`, ownerToken)).json();
    assert.deepEqual(listed.items, []);
  });

  step("an editor of the board sees its settings and members, but no Webhooks section", async () => {
    assert.equal((await rest("POST", "/auth/register", null, eddie)).status, 201);
    assert.equal((await rest("POST", `/boards/${boardId}/members`, ownerToken, { email: eddie.email, role: "editor" })).status, 201);
    const editor = await newPage(suite.browser);
    try {
      await editor.goto(`${server.baseUrl}/login`);
      await editor.getByLabel("Email").fill(eddie.email);
      await editor.getByLabel("Password").fill(eddie.password);
      await editor.getByRole("button", { name: /Log in|Sign in/ }).click();
      await editor.waitForURL(/\/boards$/);
      await editor.goto(`${server.baseUrl}/boards/${boardId}`);
      await editor.getByText("Your role: editor").waitFor();
      await editor.getByRole("button", { name: "Settings and members" }).click();
      await editor.getByRole("region", { name: "Members" }).getByText(eddie.name).waitFor();
      await editor.getByRole("region", { name: "Board settings" }).waitFor();
      assert.equal(await editor.getByRole("region", { name: "Webhooks", exact: true }).count(), 0);
      assert.equal(await editor.getByText("Add webhook").count(), 0);
      // The owner's view, same moment, still has it (the check above is about the role).
      await section().waitFor();
    } finally {
      await editor.context().close();
    }
  });
});
