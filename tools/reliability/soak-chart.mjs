#!/usr/bin/env node
// Draws the memory curves of soak runs (RSS, V8 external + ArrayBuffers, GPU memory in use)
// against completed requests, one panel per run, as one SVG.
//   node tools/reliability/soak-chart.mjs out.svg soak-a.json [soak-b.json ...]
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: soak-chart.mjs out.svg soak.json...');
  process.exit(2);
}
const W = 1100;
const H = 220;
const series = [
  ['rss', '#1f77b4', 'RSS'],
  ['external', '#2ca02c', 'V8 external + ArrayBuffers'],
  ['gpu', '#d62728', 'GPU memory used'],
];
const parts = [];
files.forEach((f, k) => {
  const s = JSON.parse(readFileSync(f, 'utf8'));
  const y0 = k * (H + 30) + 30;
  const xs = s.samples.map((p) => p.done);
  const xmax = Math.max(...xs, 1);
  parts.push(`<text x="10" y="${y0 - 10}" font-size="12" font-weight="bold">${basename(f)}: ${s.requests.toLocaleString('en')} requests, ${s.errors} errors, growth after warm-up RSS ${(s.growth.rss / 2 ** 20).toFixed(1)} MiB, external ${(s.growth.external / 2 ** 20).toFixed(1)} MiB, GPU ${s.growth.gpu === null ? 'n/a' : (s.growth.gpu / 2 ** 20).toFixed(1) + ' MiB'}</text>`);
  parts.push(`<rect x="60" y="${y0}" width="${W - 80}" height="${H - 40}" fill="none" stroke="#999"/>`);
  series.forEach(([key, color, label], j) => {
    const pts = s.samples.filter((p) => p[key] !== null && p[key] !== undefined);
    if (pts.length === 0) return;
    const vmax = Math.max(...pts.map((p) => p[key])) * 1.1 || 1;
    const path = pts.map((p, i) => `${i ? 'L' : 'M'}${(60 + ((W - 80) * p.done) / xmax).toFixed(1)},${(y0 + H - 40 - ((H - 40) * p[key]) / vmax).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    parts.push(`<text x="${70 + j * 330}" y="${y0 + H - 22}" font-size="11" fill="${color}">${label} (max ${(vmax / 1.1 / 2 ** 20).toFixed(0)} MiB, scaled)</text>`);
  });
  parts.push(`<text x="60" y="${y0 + H - 5}" font-size="11">0</text><text x="${W - 60}" y="${y0 + H - 5}" font-size="11" text-anchor="end">${xmax.toLocaleString('en')} requests</text>`);
});
writeFileSync(out, `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${files.length * (H + 30) + 20}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`);
console.log(out);
