// A self-contained HTML report (no scripts, fonts or network): result tables, SVG training curves, sample
// completions from the start and the end of GRPO, and the run's config; every text is escaped, written atomically.
import { writeFileAtomic } from '../io/atomic.js';
import type { LogRecord } from '../train/logger.js';
import { type Chart, chartHtml, DEFAULT_SMOOTHING, escapeHtml, isAllZero, SMOOTH_MIN_POINTS } from './chart.js';

export type { Chart, Series } from './chart.js';

export interface ReportTable {
  title: string;
  header: string[];
  rows: (string | number | null)[][];
}

export interface ReportSections {
  /**
   * Logged completions (the GRPO trainer's `completions.jsonl` records: step, prompt, completion,
   * `rewards/<name>`, advantage); the report shows the first `perTable` of the first and of the last logged step.
   */
  completions?: { records: readonly LogRecord[]; perTable?: number; whyNone?: string };
  /** The run's configuration, shown as JSON. */
  config?: Record<string, unknown>;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin-bottom:16px}td,th{border:1px solid #ccc;padding:4px 10px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{text-align:left;white-space:pre-wrap;overflow-wrap:anywhere;max-width:460px}
table.completions td.text{font-family:ui-monospace,monospace;font-size:12px}
div.charts{display:flex;flex-wrap:wrap;gap:8px 24px}figure.chart{width:560px;margin:8px 0}
figure.chart figcaption{font-weight:bold;font-size:13px;margin:4px 0}p.why{color:#555;font-size:13px;margin:2px 0 0 60px}
figure.chart figcaption{margin-left:60px}pre.config{background:#f7f7f7;border:1px solid #ddd;padding:8px 12px;font-size:12px;overflow-x:auto}`;

function cellHtml(value: string | number | null): string {
  if (typeof value === 'number') return `<td class="num">${escapeHtml(formatNumber(value))}</td>`;
  return `<td class="text">${escapeHtml(value ?? '-')}</td>`;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
}

function tableHtml(t: ReportTable, className = ''): string {
  const head = t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${r.map(cellHtml).join('')}</tr>`).join('');
  return `<h2>${escapeHtml(t.title)}</h2><table${className ? ` class="${className}"` : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/**
 * The start and end tables of sample completions: the first `perTable` records of the first logged step and of
 * the last one (one table when a single step was logged), with each reward function's score and the advantage.
 */
export function completionTables(records: readonly LogRecord[], perTable = 8): ReportTable[] {
  if (!Array.isArray(records)) throw new TypeError('completionTables: records must be an array of logged completions');
  if (!Number.isInteger(perTable) || perTable < 1) throw new RangeError(`completionTables: perTable must be an integer >= 1, got ${perTable}`);
  records.forEach((r, i) => {
    if (typeof r?.step !== 'number' || typeof r.prompt !== 'string' || typeof r.completion !== 'string') {
      throw new TypeError(`completionTables: record ${i} needs a number 'step' and string 'prompt' and 'completion'`);
    }
  });
  if (records.length === 0) return [];
  const steps = [...new Set(records.map((r) => r.step as number))].sort((a, b) => a - b);
  const rewardKeys = [...new Set(records.flatMap((r) => Object.keys(r).filter((k) => k.startsWith('rewards/'))))];
  const picked: [number, string][] = steps.length === 1 ? [[steps[0], 'of GRPO']]
    : [[steps[0], 'at the start of GRPO'], [steps[steps.length - 1], 'at the end of GRPO']];
  return picked.map(([step, when]) => {
    const atStep = records.filter((r) => r.step === step);
    const shown = atStep.slice(0, perTable);
    return {
      title: `Sample completions ${when} (step ${step}, ${shown.length} of ${atStep.length} logged)`,
      header: ['prompt', 'completion', ...rewardKeys.map((k) => k.slice('rewards/'.length)), 'advantage'],
      rows: shown.map((r) => [r.prompt as string, r.completion as string, ...rewardKeys.map((k) => (typeof r[k] === 'number' ? r[k] as number : null)),
        typeof r.advantage === 'number' ? r.advantage : null]),
    };
  });
}

/** Keeps the first and the latest step's logged completions (the report's start and end tables) rather than the whole run's. */
export class StartEndCompletions {
  private first: LogRecord[] | null = null;
  private last: LogRecord[] | null = null;
  /** Pass as GRPOTrainer's onCompletions callback. */
  readonly add = (records: LogRecord[]): void => {
    if (this.first === null) this.first = records;
    else this.last = records;
  };

  get records(): LogRecord[] {
    return [...(this.first ?? []), ...(this.last ?? [])];
  }
}

// One-line JSON with a space after each comma and colon (outside strings).
function oneLineJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(oneLineJson).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${oneLineJson(v)}`).join(', ')}}`;
}

/** JSON indented by nesting, with each array or object that fits in `width` characters kept on one line. */
export function compactJson(value: unknown, width = 72, indent = ''): string {
  const flat = oneLineJson(value);
  if (value === null || typeof value !== 'object' || indent.length + flat.length <= width) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `[\n${value.map((v) => inner + compactJson(v, width, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${compactJson(v, width, inner)}`).join(',\n')}\n${indent}}`;
}

function smoothingNote(charts: readonly Chart[]): string {
  const smoothed = charts.filter((c) => (c.smoothing ?? DEFAULT_SMOOTHING) > 0 &&
    c.series.some((s) => !isAllZero(s) && s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).length >= SMOOTH_MIN_POINTS));
  if (smoothed.length === 0) return '';
  return '<p>Faint lines are the logged per-step values; the solid line over each is TensorBoard\'s smoothing, an exponential ' +
    'moving average s<sub>t</sub> = w s<sub>t-1</sub> + (1 - w) y<sub>t</sub> started at 0 and divided by 1 - w<sup>t</sup> ' +
    '(debiased, so early steps are not pulled toward 0), with the weight w shown on each chart. Series of fewer than ' +
    `${SMOOTH_MIN_POINTS} points are drawn as they are, with markers.</p>`;
}

/** The report as one HTML page: notes, tables, training curves, sample completions, then the config. */
export function renderReport(title: string, tables: readonly ReportTable[], charts: readonly Chart[], notes: readonly string[] = [], sections: ReportSections = {}): string {
  if (typeof title !== 'string') throw new TypeError('renderReport: title must be a string');
  if (!Array.isArray(tables) || !Array.isArray(charts) || !Array.isArray(notes)) throw new TypeError('renderReport: tables, charts and notes must be arrays');
  const parts = [`<h1>${escapeHtml(title)}</h1>`, ...notes.map((n) => `<p>${escapeHtml(n)}</p>`), ...tables.map((t) => tableHtml(t))];
  if (charts.length) parts.push(`<h2>Training curves</h2>${smoothingNote(charts)}<div class="charts">${charts.map(chartHtml).join('\n')}</div>`);
  const c = sections.completions;
  if (c) {
    const completions = completionTables(c.records, c.perTable);
    parts.push(completions.length ? completions.map((t) => tableHtml(t, 'completions')).join('\n')
      : `<h2>Sample completions</h2><p>${escapeHtml(c.whyNone ?? 'No completions were logged.')}</p>`);
  }
  if (sections.config !== undefined) {
    if (sections.config === null || typeof sections.config !== 'object') throw new TypeError('renderReport: sections.config must be an object');
    parts.push(`<h2>Config</h2><pre class="config">${escapeHtml(compactJson(sections.config))}</pre>`);
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>\n${STYLE}\n</style></head><body>\n` +
    `${parts.join('\n')}\n</body></html>\n`;
}

/** Writes `file` atomically with renderReport's page. */
export function writeReport(file: string, title: string, tables: readonly ReportTable[], charts: readonly Chart[], notes: readonly string[] = [], sections: ReportSections = {}): void {
  if (typeof file !== 'string' || file === '') throw new TypeError('writeReport: file must be a non-empty path');
  writeFileAtomic(file, renderReport(title, tables, charts, notes, sections));
}
