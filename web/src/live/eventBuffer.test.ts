import { describe, expect, it } from "vitest";
import { EventBuffer } from "./eventBuffer";

type Ev = { seq: number; label: string };
const e = (seq: number): Ev => ({ seq, label: `e${seq}` });
const seqs = (events: { seq: number }[]) => events.map((x) => x.seq);

describe("EventBuffer", () => {
  it("releases events that follow on, in order", () => {
    const b = new EventBuffer<Ev>(0);
    expect(seqs(b.push(e(1)))).toEqual([1]);
    expect(seqs(b.push(e(2)))).toEqual([2]);
    expect(b.lastSeq).toBe(2);
    expect(b.hasGap()).toBe(false);
  });

  it("starts after the snapshot's seq", () => {
    const b = new EventBuffer<Ev>(41);
    expect(seqs(b.push(e(41)))).toEqual([]);
    expect(seqs(b.push(e(42)))).toEqual([42]);
  });

  it("holds out-of-order arrivals until the gap closes, then releases them in order", () => {
    const b = new EventBuffer<Ev>(0);
    expect(b.push(e(3))).toEqual([]);
    expect(b.push(e(2))).toEqual([]);
    expect(b.hasGap()).toBe(true);
    expect(b.heldCount).toBe(2);
    expect(seqs(b.push(e(1)))).toEqual([1, 2, 3]);
    expect(b.hasGap()).toBe(false);
    expect(b.lastSeq).toBe(3);
  });

  it("sorts a batch given in any order", () => {
    const b = new EventBuffer<Ev>(10);
    expect(seqs(b.pushAll([e(13), e(11), e(12)]))).toEqual([11, 12, 13]);
  });

  it("ignores duplicates: already released, and already held", () => {
    const b = new EventBuffer<Ev>(0);
    b.pushAll([e(1), e(2)]);
    expect(b.push(e(2))).toEqual([]);
    expect(b.push(e(1))).toEqual([]);
    b.push(e(5));
    b.push(e(5));
    expect(b.heldCount).toBe(1);
    expect(seqs(b.pushAll([e(3), e(4), e(3)]))).toEqual([3, 4, 5]);
  });

  it("keeps the first copy of a held duplicate", () => {
    const b = new EventBuffer<Ev>(0);
    b.push({ seq: 2, label: "first" });
    b.push({ seq: 2, label: "second" });
    expect(b.push(e(1)).map((x) => x.label)).toEqual(["e1", "first"]);
  });

  it("ignores events without an integer seq", () => {
    const b = new EventBuffer<Ev>(0);
    expect(b.push({ seq: Number.NaN, label: "bad" })).toEqual([]);
    expect(b.push({ seq: 1.5, label: "bad" })).toEqual([]);
    expect(b.hasGap()).toBe(false);
  });

  it("describes the gap: from the first missing seq to before the earliest held one", () => {
    const b = new EventBuffer<Ev>(4);
    expect(b.gap()).toBeNull();
    b.pushAll([e(9), e(7)]);
    expect(b.gap()).toEqual({ from: 5, to: 6 });
    b.pushAll([e(5), e(6)]);
    expect(b.lastSeq).toBe(7);
    expect(b.gap()).toEqual({ from: 8, to: 8 });
  });

  it("times a gap from when it opened until it closes", () => {
    const b = new EventBuffer<Ev>(0);
    expect(b.gapAge(100)).toBeNull();
    b.push(e(2), 1000);
    expect(b.gapAge(1250)).toBe(250);
    b.push(e(4), 1300); // still the same open gap
    expect(b.gapAge(1400)).toBe(400);
    b.push(e(1), 1500); // 1,2 released; 4 still held behind 3
    expect(b.gapAge(1600)).toBe(600);
    b.push(e(3), 1700);
    expect(b.gapAge(1800)).toBeNull();
  });

  it("reset after a resync drops held events the snapshot covers and releases the rest", () => {
    const b = new EventBuffer<Ev>(0);
    b.pushAll([e(5), e(8), e(9), e(11)]);
    expect(seqs(b.reset(7))).toEqual([8, 9]);
    expect(b.lastSeq).toBe(9);
    expect(b.gap()).toEqual({ from: 10, to: 10 });
    expect(seqs(b.reset(20))).toEqual([]);
    expect(b.hasGap()).toBe(false);
  });

  it("accepts a seq far ahead as a gap, not as a jump", () => {
    const b = new EventBuffer<Ev>(0);
    b.push(e(1000));
    expect(b.lastSeq).toBe(0);
    expect(b.gap()).toEqual({ from: 1, to: 999 });
  });
});

describe("EventBuffer.heldEvents", () => {
  it("lists held events in seq order without releasing them", () => {
    const b = new EventBuffer<Ev>(0);
    b.pushAll([e(9), e(4), e(6)]);
    expect(seqs(b.heldEvents())).toEqual([4, 6, 9]);
    expect(b.heldCount).toBe(3);
  });
});
