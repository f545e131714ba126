// A self-contained HTML report: line charts drawn as inline SVG (no scripts, fonts or network) and
// result tables, written atomically.
import { writeFileAtomic } from '../io/atomic.js';

export interface Series {
  name: string;
  points: [number, number][];
}

export interface Chart {
  title: string;
  xLabel: string;
  series: Series[];
}

export interface ReportTable {
  title: string;
  header: string[];
  rows: (string | number)[][];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function niceNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

function chartSvg(chart: Chart): string {
  const [W, H, left, right, top, bottom] = [560, 260, 56, 12, 28, 36];
  const all = chart.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (all.length === 0) return `<p>${escape(chart.title)}: no data</p>`;
  const [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => left + ((x - x0) / Math.max(1e-12, x1 - x0)) * (W - left - right);
  const sy = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (H - top - bottom);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => y0 + f * (y1 - y0));
  const grid = ticks.map((t) => `<line x1="${left}" x2="${W - right}" y1="${sy(t)}" y2="${sy(t)}" stroke="#ddd"/>` +
    `<text x="${left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${niceNumber(t)}</text>`).join('');
  const lines = chart.series.map((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.8" points="${pts}"/>`;
  }).join('');
  const legend = chart.series.map((s, i) => `<tspan fill="${COLORS[i % COLORS.length]}" dx="${i ? 14 : 0}">&#9632; ${escape(s.name)}</tspan>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${escape(chart.title)}">` +
    `<text x="${left}" y="16" font-size="13" font-weight="bold">${escape(chart.title)}</text>${grid}` +
    `<line x1="${left}" x2="${W - right}" y1="${H - bottom}" y2="${H - bottom}" stroke="#888"/>` +
    `<text x="${left}" y="${H - bottom + 16}" font-size="11">${niceNumber(x0)}</text>` +
    `<text x="${W - right}" y="${H - bottom + 16}" font-size="11" text-anchor="end">${niceNumber(x1)}</text>` +
    `<text x="${(left + W - right) / 2}" y="${H - bottom + 16}" font-size="11" text-anchor="middle">${escape(chart.xLabel)}</text>` +
    `${lines}<text x="${left}" y="${H - 4}" font-size="11">${legend}</text></svg>`;
}

function tableHtml(t: ReportTable): string {
  const head = t.header.map((h) => `<th>${escape(h)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${r.map((c) => `<td>${escape(String(c))}</td>`).join('')}</tr>`).join('');
  return `<h2>${escape(t.title)}</h2><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Writes `file` as one HTML page with the tables first, then the charts. */
export function writeReport(file: string, title: string, tables: ReportTable[], charts: Chart[], notes: string[] = []): void {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title><style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin-bottom:16px}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f4f4f4}svg{margin:8px 16px 8px 0}
</style></head><body><h1>${escape(title)}</h1>${notes.map((n) => `<p>${escape(n)}</p>`).join('')}
${tables.map(tableHtml).join('\n')}<h2>Training curves</h2><div>${charts.map(chartSvg).join('\n')}</div></body></html>\n`;
  writeFileAtomic(file, html);
}
