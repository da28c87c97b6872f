// Attachments with S3 storage (moto's S3 server standing in for AWS): the browser sends the
// bytes straight to the bucket with the presigned form the server hands out, then confirms;
// downloads follow the server's redirect to a presigned URL.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { launchBrowser } from "./lib/browser.mjs";
import { skipUnlessRunnable } from "./lib/harness.mjs";
import { freePort, repoRoot, TaskflowServer, waitFor } from "./lib/server.mjs";
import { artifactsDir, createBoard, createTask, screenshot, signUp } from "./lib/ui.mjs";

const motoBin = path.join(repoRoot, ".venv", "bin", "moto_server");
const skip = skipUnlessRunnable([[motoBin, "the test extras are not installed"]]);

describe("attachments stored in S3", { skip }, () => {
  let server, browser, dataDir, moto, motoUrl, page;
  const bucket = `taskflow-e2e-${Date.now()}`;

  before(async () => {
    const motoPort = await freePort();
    motoUrl = `http://127.0.0.1:${motoPort}`;
    moto = spawn(motoBin, ["-H", "127.0.0.1", "-p", String(motoPort)], { stdio: "ignore", detached: true });
    await waitFor(async () => (await fetch(motoUrl, { signal: AbortSignal.timeout(1000) })).ok, { what: "moto_server" });
    const created = await fetch(`${motoUrl}/${bucket}`, { method: "PUT" }); // moto checks no signatures
    assert.equal(created.status, 200);
    dataDir = mkdtempSync(path.join(tmpdir(), "taskflow-e2e-s3-"));
    server = new TaskflowServer({
      port: await freePort(),
      dataDir,
      logPath: path.join(artifactsDir, "server-s3.log"),
      env: {
        S3_BUCKET: bucket, S3_ENDPOINT_URL: motoUrl, S3_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing",
      },
    });
    await server.start();
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (moto) {
      try {
        process.kill(-moto.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("uploads straight to the bucket, lists it, downloads it through the presigned redirect", async () => {
    const run = Date.now().toString(36);
    await signUp(page, server.baseUrl, { name: "Sam Storage", email: `sam-${run}@example.com`, password: "sam password 1" });
    await createBoard(page, "S3 board");
    await createTask(page, "todo", "Has files");
    await page.getByRole("link", { name: "Has files", exact: true }).click();
    const files = page.getByRole("dialog").getByTestId("attachments");
    await files.getByText("Up to 25 MB per file.").waitFor();
    const posts = [];
    page.on("request", (r) => r.method() === "POST" && posts.push(new URL(r.url())));
    await files.locator('input[type="file"]').setInputFiles({ name: "report.csv", mimeType: "text/csv", buffer: Buffer.from("a,b\n1,2\n") });
    await files.getByRole("button", { name: "Download report.csv" }).waitFor();
    const toBucket = posts.filter((u) => u.origin === motoUrl);
    const toApi = posts.filter((u) => u.origin === server.baseUrl).map((u) => u.pathname.replace(/[0-9a-f]{24}/g, ":id"));
    console.log(`  POSTs: ${toApi.join(", ")}; to the bucket: ${toBucket.length}`);
    assert.equal(toBucket.length, 1, "the bytes went to the bucket");
    assert.deepEqual(toApi, ["/api/v1/tasks/:id/attachments/uploads", "/api/v1/tasks/:id/attachments/:id/complete"]);
    const [download] = await Promise.all([page.waitForEvent("download"), files.getByRole("button", { name: "Download report.csv" }).click()]);
    const chunks = [];
    for await (const chunk of await download.createReadStream()) chunks.push(chunk);
    assert.equal(Buffer.concat(chunks).toString(), "a,b\n1,2\n");
    await screenshot(page, "40-s3-attachment");
  });
});
