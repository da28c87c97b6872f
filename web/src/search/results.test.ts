import { describe, expect, it } from "vitest";
import type { SearchHit, Task } from "../api/types";
import { ApiError } from "../api/errors";
import { appendHits, boardTextToQuery, groupByBoard, matchedText, searchError, searchPath, taskPath } from "./results";

function hit(id: string, boardId: string, matched: SearchHit["matched_in"] = ["title"]): SearchHit {
  return {
    task: { id, board_id: boardId, title: `Task ${id}` } as Task,
    board: { id: boardId, name: `Board ${boardId}` },
    matched_in: matched,
  };
}

describe("groupByBoard", () => {
  it("keeps the server's order of boards (by their best hit) and of hits", () => {
    const groups = groupByBoard([hit("1", "b"), hit("2", "a"), hit("3", "b"), hit("4", "c"), hit("5", "a")]);
    expect(groups.map((g) => g.board.id)).toEqual(["b", "a", "c"]);
    expect(groups.map((g) => g.hits.map((h) => h.task.id))).toEqual([["1", "3"], ["2", "5"], ["4"]]);
    expect(groups[0]!.board.name).toBe("Board b");
  });

  it("is empty for no hits", () => {
    expect(groupByBoard([])).toEqual([]);
  });
});

describe("appendHits", () => {
  it("adds a page and drops tasks already shown", () => {
    const out = appendHits([hit("1", "a"), hit("2", "a")], [hit("2", "a"), hit("3", "b")]);
    expect(out.map((h) => h.task.id)).toEqual(["1", "2", "3"]);
  });
});

describe("paths", () => {
  it("escapes the query and the ids", () => {
    expect(searchPath(' "release notes" status:done ')).toBe("/search?q=%22release+notes%22+status%3Adone");
    expect(searchPath("100% a&b")).toBe("/search?q=100%25+a%26b");
    expect(taskPath(hit("t/1", "b?2"))).toBe("/boards/b%3F2/tasks/t%2F1");
  });

  it("turns the board's filter text into a query", () => {
    expect(boardTextToQuery("  login   bug ")).toBe("login bug");
  });
});

describe("matchedText", () => {
  it("names the fields in plain words", () => {
    expect(matchedText(["title"])).toBe("Found in title");
    expect(matchedText(["title", "comments"])).toBe("Found in title and comments");
    expect(matchedText(["title", "description", "comments"])).toBe("Found in title, description and comments");
    expect(matchedText([])).toBe("");
  });
});

describe("searchError", () => {
  it("names the part of the query the server refused", () => {
    const err = new ApiError(422, {
      status: 422, title: "x", code: "invalid_search",
      errors: [{ loc: ["query", "q"], msg: "status: takes one of todo, in_progress, done", part: "status:later" } as never],
    });
    expect(searchError(err, () => "other")).toBe("Can't search for status:later: status: takes one of todo, in_progress, done.");
    expect(searchError(new Error("boom"), () => "other")).toBe("other");
  });
});
