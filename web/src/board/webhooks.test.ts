import { describe, expect, it } from "vitest";
import { eventsLabel, eventsToSend, webhookState, webhookUrl } from "./webhooks";

const quiet = { active: true, failing_since: null, next_attempt_at: null, disabled_reason: null };

describe("webhook events", () => {
  it("names every type as 'All events', else lists the types", () => {
    expect(eventsLabel(["*"])).toBe("All events");
    expect(eventsLabel([])).toBe("All events");
    expect(eventsLabel(["task:created", "*"])).toBe("All events");
    expect(eventsLabel(["task:created", "comment:created"])).toBe("task:created, comment:created");
  });

  it("sends ['*'] for all, else the chosen types in the board's order, never unknown ones", () => {
    expect(eventsToSend(true, new Set(["task:created"]))).toEqual(["*"]);
    expect(eventsToSend(false, new Set(["member:added", "task:created", "nonsense"]))).toEqual(["task:created", "member:added"]);
    expect(eventsToSend(false, new Set())).toEqual([]);
  });
});

describe("webhook URL check", () => {
  it("wants an http or https URL", () => {
    expect(webhookUrl("")).toMatch(/Enter the URL/);
    expect(webhookUrl("   ")).toMatch(/Enter the URL/);
    expect(webhookUrl("ftp://example.com/hook")).toMatch(/http:\/\/ or https:\/\//);
    expect(webhookUrl("example.com/hook")).toMatch(/http:\/\/ or https:\/\//);
    expect(webhookUrl("https://example.com/hook")).toBeNull();
    expect(webhookUrl(" HTTP://example.com ")).toBeNull();
    expect(webhookUrl(`https://example.com/${"a".repeat(2000)}`)).toMatch(/at most 2000/);
  });
});

describe("webhook state", () => {
  it("is active while nothing fails", () => {
    expect(webhookState(quiet)).toEqual({ kind: "active" });
  });

  it("is failing, with the next attempt, while a failed event is retried", () => {
    expect(webhookState({ ...quiet, failing_since: "2030-01-01T10:00:00Z", next_attempt_at: "2030-01-01T10:00:05Z" }))
      .toEqual({ kind: "failing", since: "2030-01-01T10:00:00Z", nextAttempt: "2030-01-01T10:00:05Z" });
  });

  it("is disabled when inactive, with the server's reason if it gave one, even if it was failing", () => {
    const reason = "status 500 (event seq 4) at 2030-01-02T10:00:00Z; failing since 2030-01-01T10:00:00Z";
    expect(webhookState({ ...quiet, active: false, failing_since: "2030-01-01T10:00:00Z", disabled_reason: reason }))
      .toEqual({ kind: "disabled", reason });
    expect(webhookState({ ...quiet, active: false })).toEqual({ kind: "disabled", reason: null });
    expect(webhookState({ ...quiet, active: false, disabled_reason: "  " })).toEqual({ kind: "disabled", reason: null });
  });
});
