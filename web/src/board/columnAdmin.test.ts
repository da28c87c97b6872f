import { describe, expect, it } from "vitest";
import type { BoardColumn } from "../api/types";
import { DEFAULT_BOARD_COLUMNS } from "../test/factories";
import { cannotDelete, moveTargets, nameTaken, parseWipLimit, reordered } from "./columnAdmin";

const review: BoardColumn = { id: "review", name: "Review", category: "in_progress", wip_limit: 3 };
const columns = [DEFAULT_BOARD_COLUMNS[0]!, DEFAULT_BOARD_COLUMNS[1]!, review, DEFAULT_BOARD_COLUMNS[2]!];

describe("column administration", () => {
  it("moves a column up or down, not past the edges", () => {
    expect(reordered(columns, 2, -1)).toEqual(["todo", "review", "in_progress", "done"]);
    expect(reordered(columns, 0, 1)).toEqual(["in_progress", "todo", "review", "done"]);
    expect(reordered(columns, 0, -1)).toBeNull();
    expect(reordered(columns, 3, 1)).toBeNull();
  });

  it("keeps one column of each category", () => {
    expect(cannotDelete(columns, DEFAULT_BOARD_COLUMNS[0]!)).toMatch(/only/);
    expect(cannotDelete(columns, review)).toBeNull();
    expect(cannotDelete(columns, DEFAULT_BOARD_COLUMNS[1]!)).toBeNull();
  });

  it("offers the other columns as targets, same category first", () => {
    expect(moveTargets(columns, review).map((c) => c.id)).toEqual(["in_progress", "todo", "done"]);
  });

  it("parses WIP limits", () => {
    expect(parseWipLimit("")).toEqual({ value: null });
    expect(parseWipLimit(" 5 ")).toEqual({ value: 5 });
    for (const bad of ["0", "1001", "2.5", "x", "-1"]) expect(parseWipLimit(bad)).toHaveProperty("error");
  });

  it("knows names are unique ignoring case, a column's own name aside", () => {
    expect(nameTaken(columns, "review")).toBe(true);
    expect(nameTaken(columns, " REVIEW ", "review")).toBe(false);
    expect(nameTaken(columns, "QA")).toBe(false);
  });
});
