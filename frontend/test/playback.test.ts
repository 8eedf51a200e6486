// The player's window arithmetic (src/playback.ts): which stretch of the
// recording a pick on the timeline asks for, and where a moment is in it.
import { describe, expect, it } from 'vitest';
import { bytesText, fraction, inGap, inWindow, isLiveMoment, momentAt, nextWindow, playbackURL, stepMs, videoTime, windowAt } from '../src/playback';

const now = Date.parse('2026-12-03T05:00:00.400Z');
const S = 1000;

describe('windowAt', () => {
  it('starts 5 s before the picked moment and lasts a minute, on whole seconds', () => {
    const t = now - 10 * 60 * S + 300;
    const w = windowAt(t, now);
    expect(w.from).toBe(Date.parse('2026-12-03T04:49:55Z'));
    expect(w.to - w.from).toBe(60 * S);
    expect(inWindow(w, t)).toBe(true);
    expect(videoTime(w, t)).toBeCloseTo(5.7, 5);
  });

  it('never asks past now: a moment near now gets the half minute before now', () => {
    const w = windowAt(now - 20 * S, now);
    expect(w.to).toBe(Date.parse('2026-12-03T05:00:00Z'));
    expect(w.to - w.from).toBe(30 * S);
    expect(inWindow(w, now - 20 * S)).toBe(true);
  });

  it('the same pick asks the same URL', () => {
    expect(playbackURL('CA1', windowAt(now - 600_000 + 10, now))).toBe(playbackURL('CA1', windowAt(now - 600_000 + 400, now)));
    expect(playbackURL('CA 1', { from: Date.parse('2026-12-03T04:49:55Z'), to: Date.parse('2026-12-03T04:50:55Z') }))
      .toBe('/cameras/CA%201/playback?from=2026-12-03T04%3A49%3A55Z&to=2026-12-03T04%3A50%3A55Z');
  });
});

describe('moving through the recording', () => {
  const w = windowAt(now - 3600 * S, now);

  it('maps video time and moments both ways', () => {
    expect(momentAt(w, videoTime(w, w.from + 12_345))).toBe(w.from + 12_345);
    expect(videoTime(w, w.from - 5000)).toBe(0);
    expect(fraction(w, w.from + 30 * S)).toBeCloseTo(0.5, 5);
    expect(fraction(w, w.to + 1)).toBe(1);
  });

  it('a moment outside the window (scrubbed past it) needs a new one', () => {
    expect(inWindow(w, w.to + 1)).toBe(false);
    expect(inWindow(w, w.from - 1)).toBe(false);
    expect(inWindow(w, w.to - 200)).toBe(false); // the last half second may not be written yet
  });

  it('playing on past the end continues with the next window, with a second of overlap', () => {
    const n = nextWindow(w, now)!;
    expect(n.from).toBe(w.to - S);
    expect(n.to - n.from).toBe(60 * S);
    expect(nextWindow(windowAt(now - 10 * S, now), now)).toBeNull();
  });

  it('the live edge is the live picture', () => {
    expect(isLiveMoment(now - 1000, now)).toBe(true);
    expect(isLiveMoment(now - 10_000, now)).toBe(false);
  });

  it('steps a second while playing, a frame while paused', () => {
    expect(stepMs(false, 66)).toBe(1000);
    expect(stepMs(true, 66.7)).toBe(66.7);
    expect(stepMs(true, null)).toBe(200);
    expect(stepMs(true, 0)).toBe(200);
  });

  it('knows a moment in a gap', () => {
    expect(inGap([{ from: 10, to: 20 }], 15)).toBe(true);
    expect(inGap([{ from: 10, to: 20 }], 20)).toBe(false);
  });

  it('writes disk use in decimal units', () => {
    expect(bytesText(0)).toBe('0 B');
    expect(bytesText(1_234_567)).toBe('1.2 MB');
    expect(bytesText(987_000_000_000)).toBe('987 GB');
  });
});
