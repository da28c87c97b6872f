/**
 * Puts a board's events back into `seq` order.
 *
 * The server numbers a board's events 1, 2, 3... with no gaps, but delivery across
 * instances may reorder them and a reconnect may replay some. The buffer releases an
 * event only when every earlier one has been released, drops what it has already
 * seen, and holds later ones until the gap before them is filled (by a late arrival
 * or by fetching the missing range from the event log).
 *
 * Pure: no timers, no I/O. Time is passed in, so a caller can ask how old a gap is.
 */
export interface Sequenced {
  seq: number;
}

export interface Gap {
  /** First missing seq. */
  from: number;
  /** Last missing seq before the earliest held event. */
  to: number;
}

export class EventBuffer<E extends Sequenced> {
  private last: number;
  private readonly pending = new Map<number, E>();
  private gapSince: number | null = null;

  constructor(lastSeq = 0) {
    this.last = lastSeq;
  }

  /** The seq of the last event released: everything up to it has been applied. */
  get lastSeq(): number {
    return this.last;
  }

  /** How many events are held, waiting for a gap to close. */
  get heldCount(): number {
    return this.pending.size;
  }

  /** The events held behind a gap, in seq order. */
  heldEvents(): E[] {
    return [...this.pending.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Offers one event; returns the events now ready to apply, in order (maybe none). */
  push(event: E, now = 0): E[] {
    return this.pushAll([event], now);
  }

  /** Offers several events in any order; returns the events now ready, in order. */
  pushAll(events: readonly E[], now = 0): E[] {
    for (const event of events) {
      if (!Number.isInteger(event.seq) || event.seq <= this.last) continue; // seen already
      if (!this.pending.has(event.seq)) this.pending.set(event.seq, event);
    }
    return this.drain(now);
  }

  /** True while an event is held behind a missing one. */
  hasGap(): boolean {
    return this.pending.size > 0;
  }

  /** The missing range before the earliest held event, or null when nothing is missing. */
  gap(): Gap | null {
    if (this.pending.size === 0) return null;
    const firstHeld = Math.min(...this.pending.keys());
    return { from: this.last + 1, to: firstHeld - 1 };
  }

  /** How long (in the caller's clock) a gap has been open, or null when there is none. */
  gapAge(now: number): number | null {
    return this.gapSince === null ? null : now - this.gapSince;
  }

  /**
   * Declares everything up to `seq` known (after refetching the board): held events
   * at or before it are dropped, later ones released if they now follow on.
   */
  reset(seq: number, now = 0): E[] {
    this.last = seq;
    for (const held of [...this.pending.keys()]) if (held <= seq) this.pending.delete(held);
    this.gapSince = null;
    return this.drain(now);
  }

  private drain(now: number): E[] {
    const ready: E[] = [];
    for (let next = this.pending.get(this.last + 1); next; next = this.pending.get(this.last + 1)) {
      this.pending.delete(next.seq);
      this.last = next.seq;
      ready.push(next);
    }
    if (this.pending.size === 0) this.gapSince = null;
    else if (this.gapSince === null) this.gapSince = now;
    return ready;
  }
}
