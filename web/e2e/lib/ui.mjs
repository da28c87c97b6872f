// What a person does in the TaskFlow UI, as Playwright steps (accessible names, not CSS).
import { mkdirSync } from "node:fs";
import path from "node:path";

export const artifactsDir = path.resolve(import.meta.dirname, "../artifacts");
mkdirSync(artifactsDir, { recursive: true });

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: true });
}

export async function signUp(page, baseUrl, { name, email, password }) {
  await page.goto(`${baseUrl}/signup`);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/boards$/);
}

/** Creates a board from the boards page and returns its id (from the URL it opens). */
export async function createBoard(page, name) {
  await page.getByLabel("Board name").fill(name);
  await page.getByRole("button", { name: "Create board" }).click();
  await page.waitForURL(/\/boards\/[^/]+$/);
  await page.getByRole("heading", { level: 1, name }).waitFor();
  return new URL(page.url()).pathname.split("/").pop();
}

export async function addMember(page, email, role = "editor") {
  const toggle = page.getByRole("button", { name: "Settings and members" });
  if (await toggle.isVisible()) await toggle.click();
  await page.getByLabel("Member email").fill(email);
  await page.getByLabel("Role", { exact: true }).selectOption(role);
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByText(`was added as ${role}`).waitFor();
}

export function column(page, status) {
  return page.getByTestId(`column-${status}`);
}

export function card(page, title) {
  return page.getByTestId("task-card").filter({ has: page.getByRole("link", { name: title, exact: true }) });
}

export async function createTask(page, status, title) {
  const col = column(page, status);
  await col.getByRole("textbox").fill(title);
  await col.getByRole("button", { name: "Add task" }).click();
}

export function connectionStatus(page) {
  return page.getByTestId("connection-status");
}

/** Titles of a column's cards, top to bottom. */
export async function columnTitles(page, status) {
  return column(page, status).locator(".task-title").allTextContents();
}
