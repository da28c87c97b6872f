import { describe, expect, it } from "vitest";
import { coalesce } from "./coalesce";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("coalesce", () => {
  it("runs once per call when calls don't overlap", async () => {
    let runs = 0;
    const reload = coalesce(async () => void runs++);
    await reload();
    await reload();
    expect(runs).toBe(2);
  });

  it("folds calls made during a run into one more run", async () => {
    const [first_, second] = [deferred(), deferred()];
    let runs = 0;
    const reload = coalesce(() => (runs++ === 0 ? first_ : second).promise);
    const first = reload();
    const others = [reload(), reload(), reload()];
    expect(runs).toBe(1);
    first_.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(runs).toBe(2);
    second.resolve();
    await Promise.all([first, ...others]);
    expect(runs).toBe(2);
  });

  it("keeps going after a failed run", async () => {
    let runs = 0;
    const reload = coalesce(async () => {
      runs++;
      if (runs === 1) throw new Error("offline");
    });
    await reload();
    await reload();
    expect(runs).toBe(2);
  });
});
