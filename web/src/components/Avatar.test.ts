import { describe, expect, it } from "vitest";

// The avatar's background is hsl(h 55% 30%) with white initials: check 4.5:1 on every hue.
function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)];
}
const channel = (c: number) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const luminance = ([r, g, b]: [number, number, number]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);

describe("Avatar colours", () => {
  it("give white text at least 4.5:1 on every hue", () => {
    const worst = Math.min(...Array.from({ length: 360 }, (_, h) => 1.05 / (luminance(hslToRgb(h, 0.55, 0.3)) + 0.05)));
    expect(worst).toBeGreaterThanOrEqual(4.5);
  });
});
