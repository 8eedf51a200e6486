// The e2e reads a <video> frame's time from the block code the cameras draw
// (camera/blockcode.go); these pictures are made here, the same way.
import { describe, expect, it } from 'vitest';
import { decodeBlockCode, drawBlockCode } from '../e2e/blockcode.mjs';

const W = 640, H = 360;
function frame(ms: number, scene = 90): Uint8ClampedArray {
  const d = new Uint8ClampedArray(W * H * 4);
  for (let i = 0; i < d.length; i += 4) { d[i] = scene; d[i + 1] = scene + 20; d[i + 2] = scene + 40; d[i + 3] = 255; }
  drawBlockCode(d, ms);
  return d;
}

/** Box-filtered rescale, as a canvas drawImage of a smaller video would give. */
function scale(src: Uint8ClampedArray, w: number, h: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx0 = Math.floor((x * W) / w), sx1 = Math.max(sx0 + 1, Math.floor(((x + 1) * W) / w));
      const sy0 = Math.floor((y * H) / h), sy1 = Math.max(sy0 + 1, Math.floor(((y + 1) * H) / h));
      for (let k = 0; k < 4; k++) {
        let s = 0, n = 0;
        for (let yy = sy0; yy < sy1; yy++) for (let xx = sx0; xx < sx1; xx++) { s += src[(yy * W + xx) * 4 + k]; n++; }
        out[(y * w + x) * 4 + k] = s / n;
      }
    }
  }
  return out;
}

describe('block time code', () => {
  const when = Date.parse('2026-12-03T05:06:07.891Z');

  it('reads the millisecond drawn into a 640×360 frame', () => {
    expect(decodeBlockCode(frame(when), W, H)).toEqual({ ms: when });
  });

  it('reads it from a frame scaled to 1280×720 and to 320×180', () => {
    // Scaling up: nearest pixels of the reference frame.
    const big = new Uint8ClampedArray(1280 * 720 * 4);
    const src = frame(when);
    for (let y = 0; y < 720; y++) for (let x = 0; x < 1280; x++) for (let k = 0; k < 4; k++) big[(y * 1280 + x) * 4 + k] = src[((y >> 1) * W + (x >> 1)) * 4 + k];
    expect(decodeBlockCode(big, 1280, 720)).toEqual({ ms: when });
    expect(decodeBlockCode(scale(src, 320, 180), 320, 180)).toEqual({ ms: when });
  });

  it('reads the largest and the smallest 48-bit value', () => {
    for (const ms of [0, 2 ** 48 - 1, 1]) expect(decodeBlockCode(frame(ms), W, H)).toEqual({ ms });
  });

  it('refuses a flipped data block (checksum) rather than giving a wrong time', () => {
    const d = frame(when);
    // Column 10 of row 0: a data block; invert its interior.
    for (let y = 320; y < 336; y++) for (let x = 160; x < 176; x++) { const i = (y * W + x) * 4; d[i] = d[i + 1] = d[i + 2] = 255 - d[i]; }
    expect(decodeBlockCode(d, W, H)).toEqual({ error: 'checksum mismatch' });
  });

  it('says so for a picture without a code and for one too small', () => {
    expect('error' in decodeBlockCode(new Uint8ClampedArray(W * H * 4).fill(128), W, H)).toBe(true);
    expect(decodeBlockCode(new Uint8ClampedArray(40 * 20 * 4), 40, 20)).toEqual({ error: '40x20 is too small' });
  });
});
