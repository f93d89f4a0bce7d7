import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the bench scripts, without type declarations
import { summarizeTimeline } from '../../bench/investigations/timeline.mjs';

describe('summarizeTimeline (bench/investigations/timeline.mjs)', () => {
  it('measures busy time, overlap, spans and the time a stream sits empty', () => {
    // stream 0: [0,2] [3,5] [6,8]; stream 1: [1,4] [5,8]
    const rs = [
      { stream: 0, start: 0, end: 2, h2d: 0.5, compute: 1.5, d2h: 0 },
      { stream: 0, start: 3, end: 5, h2d: 0.5, compute: 1.5, d2h: 0 },
      { stream: 0, start: 6, end: 8, h2d: 0.5, compute: 1.5, d2h: 0 },
      { stream: 1, start: 1, end: 4, h2d: 1, compute: 2, d2h: 0 },
      { stream: 1, start: 5, end: 8, h2d: 1, compute: 2, d2h: 0 },
    ];
    const s = summarizeTimeline(rs, 0);
    expect(s.windowMs).toBe(8);
    expect(s.busyFraction).toBeCloseTo(1, 9); // some stream busy from 0 to 8
    // both busy: [1,2] [3,4] [6,8] = 4 of 8
    expect(s.allBusyFraction).toBeCloseTo(0.5, 9);
    const [a, b] = s.streams;
    expect(a.spanMs).toBeCloseTo(2, 9);
    expect(a.offMs).toBeCloseTo(1, 9);
    expect(b.spanMs).toBeCloseTo(3, 9);
    expect(b.offMs).toBeCloseTo(1, 9);
    expect(s.runsPerSecond).toBeCloseTo((5 / 8) * 1000, 6);
  });

  it('leaves out the warm-up fraction and runs without a start (NaN)', () => {
    const rs = [
      { stream: 0, start: 0, end: 1 },
      { stream: 0, start: 2, end: 3 },
      { stream: 0, start: 6, end: 8 },
      { stream: 0, start: Number.NaN, end: 9 },
    ];
    const s = summarizeTimeline(rs, 0.5); // window [4, 8]: only the last run
    expect(s.windowMs).toBe(4);
    expect(s.streams[0].runs).toBe(1);
    expect(s.busyFraction).toBeCloseTo(0.5, 9);
    expect(s.streams[0].offMs).toBeCloseTo(3, 9);
    expect(summarizeTimeline([])).toBeUndefined();
  });
});
