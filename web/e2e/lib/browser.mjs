// Debian's Chromium driven by playwright-core (Playwright's own browser downloads are not available here).
import { chromium } from "playwright-core";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  // The GPU process keeps a sandbox of its own, whose start-up check (listing
  // /proc/self/task) is refused on some hosts (Debian's Chromium 156 as root here: "FATAL
  // thread_helpers.cc Check failed: Permission denied", then "GPU process isn't usable.
  // Goodbye." and the whole browser exits). Nothing is drawn on a GPU here anyway.
  "--disable-gpu-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Both users' pages must keep running timers and rendering while the other one is in front.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

/**
 * Launches Chromium. Playwright gives every launch a fresh temporary profile directory
 * (the launch-option equivalent of a fresh --user-data-dir, which it refuses in `args`)
 * and every browser context its own storage, so the two users share nothing.
 */
export async function launchBrowser() {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ARGS });
}
