// The block time code of camera/blockcode.go, read from RGBA pixels (a
// <video> frame drawn to a canvas). The same geometry, references, threshold
// and CRC as the Go reader, so a frame the server would read, this reads:
// two rows of 16 px blocks at y = 320 on the 640×360 reference frame, each
// row a quiet column, start mark B W B, 32 data blocks, stop mark W B B and
// a quiet column; row 0 carries ms bits 47..16, row 1 bits 15..0 then the
// CRC-16/CCITT-FALSE of the 48-bit value.
//
// decodeBlockCode is self-contained (no closures over this module), so the
// e2e can hand its source to page.evaluate and run it next to the canvas.

/**
 * @param {Uint8ClampedArray | Uint8Array | number[]} data RGBA, row-major
 * @param {number} width
 * @param {number} height
 * @returns {{ ms: number } | { error: string }}
 */
export function decodeBlockCode(data, width, height) {
  const REF_W = 640, REF_H = 360, COLS = 40, BLOCK = 16, TOP = 320, BITS = 32;
  const START = [true, false, true], STOP = [false, true, true];
  if (width < COLS * 2 || height < (REF_H / BLOCK) * 2) return { error: `${width}x${height} is too small` };
  const sx = width / REF_W, sy = height / REF_H;
  const rnd = (v) => Math.floor(v + 0.5);
  // The Go reader's luma (color.GrayModel): 0.299 R + 0.587 G + 0.114 B.
  const mean = (col, row) => {
    const x0 = rnd((col + 0.25) * BLOCK * sx), y0 = rnd((TOP + (row + 0.25) * BLOCK) * sy);
    let x1 = rnd((col + 0.75) * BLOCK * sx), y1 = rnd((TOP + (row + 0.75) * BLOCK) * sy);
    x1 = Math.min(width, Math.max(x1, x0 + 1)); y1 = Math.min(height, Math.max(y1, y0 + 1));
    let sum = 0, n = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = (y * width + x) * 4;
        sum += (19595 * data[i] + 38470 * data[i + 1] + 7471 * data[i + 2] + 32768) / 65536;
        n++;
      }
    }
    return n ? sum / n : 0;
  };
  const ref = new Array(COLS).fill(false);
  START.forEach((b, i) => { ref[1 + i] = b; });
  STOP.forEach((b, i) => { ref[4 + BITS + i] = b; });
  const lum = [[], []];
  let blackSum = 0, whiteSum = 0, nBlack = 0, nWhite = 0;
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < COLS; c++) lum[r][c] = mean(c, r);
    for (let c = 0; c < COLS; c++) {
      if (c >= 4 && c < 4 + BITS) continue;
      if (ref[c]) { blackSum += lum[r][c]; nBlack++; } else { whiteSum += lum[r][c]; nWhite++; }
    }
  }
  const blackRef = blackSum / nBlack, whiteRef = whiteSum / nWhite;
  if (whiteRef - blackRef < 64) return { error: `marks not found (black ${blackRef.toFixed(0)}, white ${whiteRef.toFixed(0)})` };
  const thr = (blackRef + whiteRef) / 2;
  const words = [0, 0];
  for (let r = 0; r < 2; r++) {
    const got = [];
    for (let i = 0; i < COLS - 2; i++) got[i] = lum[r][i + 1] < thr;
    const marks = [...got.slice(0, 3), ...got.slice(3 + BITS)];
    if (marks.some((b, i) => b !== [...START, ...STOP][i])) return { error: `start/stop marks of row ${r} do not match` };
    let w = 0;
    for (let i = 0; i < BITS; i++) w = w * 2 + (got[3 + i] ? 1 : 0);
    words[r] = w;
  }
  // 48 bits fit a double exactly; no 32-bit bit operators on the whole value.
  const ms = words[0] * 65536 + Math.floor(words[1] / 65536);
  const crc = words[1] % 65536;
  let c = 0xffff;
  for (let i = 5; i >= 0; i--) {
    c ^= (Math.floor(ms / 2 ** (8 * i)) % 256) << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  }
  if (c !== crc) return { error: 'checksum mismatch' };
  return { ms };
}

/**
 * Paints the code of ms onto a 640×360 RGBA frame, as the simulated camera
 * does (camera/blockcode.go drawTimeCode): the tests' synthetic pictures.
 * @param {Uint8ClampedArray} data 640×360 RGBA
 * @param {number} ms
 */
export function drawBlockCode(data, ms) {
  const W = 640, BLOCK = 16, TOP = 320, BAND = 312, BITS = 32;
  const fill = (x0, y0, x1, y1, v) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) { const i = (y * W + x) * 4; data[i] = data[i + 1] = data[i + 2] = v; data[i + 3] = 255; }
  };
  fill(0, BAND, W, 360, 255);
  let c = 0xffff;
  for (let i = 5; i >= 0; i--) {
    c ^= (Math.floor(ms / 2 ** (8 * i)) % 256) << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  }
  const words = [Math.floor(ms / 65536), (ms % 65536) * 65536 + c];
  for (let r = 0; r < 2; r++) {
    const row = [true, false, true];
    for (let i = 0; i < BITS; i++) row.push(Math.floor(words[r] / 2 ** (BITS - 1 - i)) % 2 === 1);
    row.push(false, true, true);
    row.forEach((b, i) => { if (b) fill((i + 1) * BLOCK, TOP + r * BLOCK, (i + 2) * BLOCK, TOP + (r + 1) * BLOCK, 0); });
  }
}
