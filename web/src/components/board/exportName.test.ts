import { describe, expect, it } from "vitest";
import { exportName } from "./BoardTransfer";

describe("exportName", () => {
  it("makes a file name of letters, digits and dashes from the board's name", () => {
    expect(exportName({ name: "Q3 Launch / Café plan!" }, "json")).toBe("q3-launch-cafe-plan.json");
    expect(exportName({ name: "../../etc/passwd" }, "csv")).toBe("etc-passwd.csv");
  });

  it("falls back to 'board' when nothing is left", () => {
    expect(exportName({ name: "***" }, "csv")).toBe("board.csv");
  });
});
