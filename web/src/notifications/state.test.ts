import { describe as suite, expect, it } from "vitest";
import type { AppNotification } from "../api/notifications";
import { describe as describeNotification, EMPTY, insertMention, mentionOf, notificationsReducer } from "./state";

function note(id: string, created_at: string, read_at: string | null = null): AppNotification {
  return {
    id, created_at, read_at, type: "mentioned", board_id: "b", task_id: "t",
    actor: { user_id: "u", name: "Bob" }, summary: "T: hi",
  };
}

suite("notificationsReducer", () => {
  const loaded = notificationsReducer(EMPTY, {
    type: "loaded",
    unread: 2,
    items: [note("a", "2026-01-01T00:00:01Z", "2026-01-02T00:00:00Z"), note("b", "2026-01-01T00:00:02Z"), note("c", "2026-01-01T00:00:00Z")],
  });

  it("keeps unread first, newest first", () => {
    expect(loaded.items.map((n) => n.id)).toEqual(["b", "c", "a"]);
  });

  it("adds a live one on top and counts it once", () => {
    const fresh = note("d", "2026-01-01T00:00:03Z");
    const once = notificationsReducer(loaded, { type: "created", notification: fresh });
    const twice = notificationsReducer(once, { type: "created", notification: fresh });
    expect(twice.items.map((n) => n.id)).toEqual(["d", "b", "c", "a"]);
    expect(twice.unread).toBe(3);
  });

  it("marks some or all read", () => {
    const one = notificationsReducer(loaded, { type: "read", ids: ["b", "a"], at: "2026-01-03T00:00:00Z" });
    expect(one.unread).toBe(1);
    expect(one.items.map((n) => n.id)).toEqual(["c", "b", "a"]);
    const all = notificationsReducer({ ...loaded, unread: 40 }, { type: "read", ids: "all", at: "x" });
    expect(all.unread).toBe(0);
    expect(all.items.every((n) => n.read_at !== null)).toBe(true);
  });
});

suite("describe", () => {
  it("names the member who acted, or says what TaskFlow did", () => {
    expect(describeNotification(note("a", "2026-01-01T00:00:00Z"))).toBe("Bob mentioned you");
    const disabled: AppNotification = {
      ...note("w", "2026-01-01T00:00:00Z"), type: "webhook_disabled", task_id: null, actor: null,
    };
    expect(describeNotification(disabled)).toBe("A webhook of your board was disabled");
  });
});

suite("mentions", () => {
  it("brackets names, spaces allowed", () => {
    expect(mentionOf("Ada Lovelace")).toBe("@[Ada Lovelace]");
    expect(mentionOf("odd]name")).toBe("@[odd name]");
  });

  it("inserts at the caret with spacing", () => {
    expect(insertMention("hello", 5, "Bob")).toEqual({ text: "hello @[Bob] ", caret: 13 });
    expect(insertMention("", 0, "Bob")).toEqual({ text: "@[Bob] ", caret: 7 });
    expect(insertMention("a  b", 2, "Bob")).toEqual({ text: "a @[Bob] b", caret: 9 });
  });
});
