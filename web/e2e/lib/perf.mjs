// Timing what a person sees, measured inside the page with the page's own clock.

/**
 * Milliseconds from the next trusted `eventType` (click, keydown...) that `act` causes to the
 * frame after the one in which `check(arg)` (a function run in the page) first holds: the
 * change is in the DOM and painted. Runs `act` itself; rejects after `timeoutMs`.
 */
export async function timeInteraction(page, { eventType, check, arg = null, act, timeoutMs = 5000 }) {
  await page.evaluate((type) => {
    window.__tfInputAt = null;
    document.addEventListener(type, (e) => (window.__tfInputAt ??= e.timeStamp), { capture: true, once: true });
  }, eventType);
  // A string expression, so the page's CSP (no eval) doesn't stand in the way of the check.
  const measured = page.evaluate(`new Promise((resolve, reject) => {
    const check = (${check.toString()});
    const arg = ${JSON.stringify(arg)};
    const deadline = performance.now() + ${timeoutMs};
    const tick = () => {
      if (window.__tfInputAt !== null && check(arg)) {
        requestAnimationFrame(() => resolve(performance.now() - window.__tfInputAt));
      } else if (performance.now() > deadline) {
        reject(new Error("the change did not show within ${timeoutMs} ms"));
      } else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })`);
  await act();
  return Math.round(await measured);
}

/** Main-thread busy time of the page so far (Chromium's TaskDuration), in milliseconds. */
export async function mainThreadMs(cdp) {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return metrics.find((m) => m.name === "TaskDuration").value * 1000;
}

/**
 * Resolves once the board page has applied every event up to `seq` (its data-seq attribute).
 * Watches with a MutationObserver rather than polling, so waiting adds no main-thread work.
 */
export async function waitForSeq(page, seq, timeoutMs = 15_000) {
  await page.evaluate(
    ({ target, timeoutMs }) =>
      new Promise((resolve, reject) => {
        const board = document.querySelector(".board-page");
        const reached = () => Number(board?.getAttribute("data-seq") ?? -1) >= target;
        if (reached()) return resolve();
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`data-seq did not reach ${target} within ${timeoutMs} ms`));
        }, timeoutMs);
        const observer = new MutationObserver(() => {
          if (!reached()) return;
          observer.disconnect();
          clearTimeout(timer);
          resolve();
        });
        observer.observe(board, { attributes: true, attributeFilter: ["data-seq"] });
      }),
    { target: seq, timeoutMs },
  );
}

/** Elements in the document, and how many of them a Tab key can reach. */
export async function domFigures(page) {
  return page.evaluate(() => {
    const all = document.getElementsByTagName("*");
    const focusable = document.querySelectorAll(
      'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])',
    );
    return {
      nodes: all.length,
      tabStops: focusable.length,
      pageHeight: document.documentElement.scrollHeight,
      pageWidth: document.documentElement.scrollWidth,
    };
  });
}
