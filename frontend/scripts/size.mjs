// Prints the dashboard's initial download: JS + CSS, raw and gzipped.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
let raw = 0, gz = 0;
const walk = (dir) => {
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) { walk(p); continue; }
    if (!/\.(js|css)$/.test(f)) continue;
    const b = readFileSync(p);
    const z = gzipSync(b, { level: 9 }).length;
    raw += b.length; gz += z;
    console.log(`  ${p.slice(dist.length + 1)}  ${(b.length / 1024).toFixed(1)} KiB  gzip ${(z / 1024).toFixed(1)} KiB`);
  }
};
walk(dist);
console.log(`JS+CSS: ${(raw / 1024).toFixed(1)} KiB, gzipped ${(gz / 1024).toFixed(1)} KiB`);
