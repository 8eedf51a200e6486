// Prints the dashboard's download: what index.html loads at once (the
// dashboard) and every JS + CSS file (with the lazily loaded screens),
// raw and gzipped.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export function sizes(dist) {
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const initial = new Set([...html.matchAll(/(?:src|href)="\/([^"]+\.(?:js|css))"/g)].map((m) => m[1]));
  const files = readdirSync(join(dist, 'assets')).filter((f) => /\.(js|css)$/.test(f)).sort().map((f) => {
    const b = readFileSync(join(dist, 'assets', f));
    return { file: 'assets/' + f, raw: b.length, gz: gzipSync(b, { level: 9 }).length };
  });
  const sum = (xs) => xs.reduce((a, x) => ({ raw: a.raw + x.raw, gz: a.gz + x.gz }), { raw: 0, gz: 0 });
  return { files, initial: sum(files.filter((f) => initial.has(f.file))), total: sum(files) };
}

const kib = (n) => (n / 1024).toFixed(1) + ' KiB';
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = sizes(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'));
  for (const f of s.files) console.log(`  ${f.file}  ${kib(f.raw)}  gzip ${kib(f.gz)}`);
  console.log(`initial load (dashboard) JS+CSS: ${kib(s.initial.raw)}, gzipped ${kib(s.initial.gz)}`);
  console.log(`all JS+CSS (with portal, settings): ${kib(s.total.raw)}, gzipped ${kib(s.total.gz)}`);
}
