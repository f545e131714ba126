// Line charts as inline SVG for the HTML report: round axis ticks (1-2-5 x 10^k), noisy per-step series drawn
// faint under a TensorBoard-style debiased EMA, and all-zero series replaced by a sentence saying why.

export interface Series {
  name: string;
  points: [number, number][];
  /**
   * Why this series can only be 0 in this run (e.g. "beta = 0 keeps no reference model"); when every point is 0
   * the chart says so in a sentence instead of drawing a flat line.
   */
  whyZero?: string;
}

export interface Chart {
  title: string;
  xLabel: string;
  series: Series[];
  /**
   * Weight w of the smoothed line drawn over series with at least SMOOTH_MIN_POINTS points (0 draws the raw
   * values only; use 0 for sparse curves such as periodic evaluations). Default DEFAULT_SMOOTHING.
   */
  smoothing?: number;
}

/** TensorBoard's default smoothing weight. */
export const DEFAULT_SMOOTHING = 0.6;
/** Shorter series are drawn as they are: a handful of points is not noise to average away. */
export const SMOOTH_MIN_POINTS = 10;

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];

/** Escapes text for HTML element content and attribute values. */
export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

// 1, 2 or 5 times a power of ten, the smallest such value >= raw.
function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  return (fraction <= 1 + 1e-9 ? 1 : fraction <= 2 + 1e-9 ? 2 : fraction <= 5 + 1e-9 ? 5 : 10) * magnitude;
}

const decimalsOf = (step: number) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

/**
 * Axis ticks for data in [lo, hi]: equally spaced multiples of a step of 1, 2 or 5 x 10^k, the first <= lo and
 * the last >= hi, at most maxTicks of them. `integer` keeps the step >= 1 (training steps). A single value
 * (lo == hi) gets ticks around it.
 */
export function niceTicks(lo: number, hi: number, maxTicks = 6, integer = false): number[] {
  if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new TypeError(`niceTicks: lo and hi must be finite numbers, got ${lo} and ${hi}`);
  }
  if (lo > hi) throw new RangeError(`niceTicks: lo ${lo} is above hi ${hi}`);
  if (!Number.isFinite(hi - lo)) throw new RangeError(`niceTicks: the span ${lo} .. ${hi} overflows float64`);
  if (!Number.isInteger(maxTicks) || maxTicks < 2) throw new RangeError(`niceTicks: maxTicks must be an integer >= 2, got ${maxTicks}`);
  // A span too small for the float spacing at these values counts as one value.
  if (hi - lo <= Math.max(Math.abs(lo), Math.abs(hi)) * 1e-12) {
    const pad = integer ? 1 : Math.abs(lo) * 0.1 || 1;
    [lo, hi] = [lo - pad, lo + pad];
  }
  let step = niceStep((hi - lo) / (maxTicks - 1));
  if (integer) step = Math.max(1, step);
  for (;;) {
    // The 1e-9 keeps values that are multiples up to float error (0.3 / 0.1 = 2.9999999999999996) on their tick.
    const first = Math.floor(lo / step + 1e-9);
    const last = Math.ceil(hi / step - 1e-9);
    // toPrecision drops the float residue of (first + i) * step (0.30000000000000004) at any magnitude.
    if (last - first + 1 <= maxTicks) return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toPrecision(12)));
    step = niceStep(step * 1.5);
  }
}

/** A tick label with as many decimals as the tick spacing needs (0.25 steps are not generated, so 0.2 -> 1 decimal). */
export function formatTick(value: number, ticks: readonly number[]): string {
  if (value === 0) return '0';
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(value);
  const largest = Math.max(...ticks.map(Math.abs));
  if (largest >= 1e6 || step < 1e-4) {
    const digits = Math.max(0, Math.floor(Math.log10(largest) + 1e-9) - Math.floor(Math.log10(step) + 1e-9));
    return value.toExponential(Math.min(digits, 6)).replace(/\.?0+e/, 'e').replace('e+', 'e');
  }
  return value.toFixed(decimalsOf(step));
}

/**
 * TensorBoard's smoothing: an exponential moving average s_t = w s_(t-1) + (1 - w) y_t started at 0 and
 * divided by 1 - w^t, so the first points are not pulled toward zero. w = 0 returns the values unchanged.
 */
export function smoothEma(values: readonly number[], weight: number): number[] {
  if (!Array.isArray(values) || values.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new TypeError('smoothEma: values must be an array of finite numbers');
  }
  if (typeof weight !== 'number' || !(weight >= 0 && weight < 1)) throw new RangeError(`smoothEma: weight must be in [0, 1), got ${weight}`);
  let average = 0;
  let mass = 0;
  return values.map((v) => {
    average = weight * average + (1 - weight) * v;
    mass = weight * mass + (1 - weight);
    return average / mass;
  });
}

const finitePoints = (s: Series) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));

/** True when the series has points and every one of them is exactly 0. */
export function isAllZero(series: Series): boolean {
  const pts = finitePoints(series);
  return pts.length > 0 && pts.every(([, y]) => y === 0);
}

/** The sentences that stand in for all-zero series, one per distinct reason ("a, b and c are 0 ... : why"). */
export function zeroSentences(series: readonly Series[]): string[] {
  const byReason = new Map<string, string[]>();
  for (const s of series) byReason.set(s.whyZero ?? '', [...(byReason.get(s.whyZero ?? '') ?? []), s.name]);
  return [...byReason].map(([why, names]) => {
    const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
    const [are, it] = names.length === 1 ? ['is', 'it is'] : ['are', 'they are'];
    return `${list} ${are} 0 at every logged step${why ? `: ${why}` : ''}, so ${it} not drawn.`;
  });
}

const [W, H, LEFT, RIGHT, TOP, BOTTOM] = [560, 290, 60, 16, 44, 46];

/**
 * One chart as a <figure>: an SVG of its non-zero series (the raw values faint and their smoothed line on
 * top where smoothing applies), followed by a sentence per all-zero series; a figure with only sentences when
 * nothing is left to draw.
 */
export function chartHtml(chart: Chart): string {
  const smoothing = chart.smoothing ?? DEFAULT_SMOOTHING;
  if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`chartHtml: chart '${chart.title}' smoothing must be in [0, 1), got ${smoothing}`);
  const zero = chart.series.filter(isAllZero);
  const drawn = chart.series.map((s, i) => ({ s, color: COLORS[i % COLORS.length], pts: finitePoints(s) }))
    .filter(({ s, pts }) => pts.length > 0 && !zero.includes(s));
  const sentences = zeroSentences(zero).map((z) => `<p class="why">${escapeHtml(z)}</p>`).join('');
  if (drawn.length === 0) {
    const what = zero.length ? sentences : '<p class="why">No values were logged.</p>';
    return `<figure class="chart"><figcaption>${escapeHtml(chart.title)}</figcaption>${what}</figure>`;
  }
  const all = drawn.flatMap((d) => d.pts);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const integerX = xs.every(Number.isInteger);
  const xTicks = niceTicks(Math.min(...xs), Math.max(...xs), 8, integerX);
  const yTicks = niceTicks(Math.min(...ys), Math.max(...ys), 6);
  const [x0, x1, y0, y1] = [xTicks[0], xTicks[xTicks.length - 1], yTicks[0], yTicks[yTicks.length - 1]];
  const sx = (x: number) => LEFT + ((x - x0) / (x1 - x0)) * (W - LEFT - RIGHT);
  const sy = (y: number) => TOP + (1 - (y - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
  const f = (v: number) => v.toFixed(1);
  const yGrid = yTicks.map((t) => `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e4e4e4"/>` +
    `<text x="${LEFT - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${formatTick(t, yTicks)}</text>`).join('');
  const xGrid = xTicks.map((t) => `<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${TOP}" y2="${H - BOTTOM}" stroke="#f0f0f0"/>` +
    `<text x="${f(sx(t))}" y="${H - BOTTOM + 16}" text-anchor="middle">${formatTick(t, xTicks)}</text>`).join('');
  let smoothedAny = false;
  const lines = drawn.map(({ pts, color }) => {
    const path = (p: [number, number][]) => p.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ');
    if (smoothing === 0 || pts.length < SMOOTH_MIN_POINTS) {
      const marker = pts.length < SMOOTH_MIN_POINTS ? pts.map(([x, y]) => `<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="2.5" fill="${color}"/>`).join('') : '';
      return `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${path(pts)}"/>${marker}`;
    }
    smoothedAny = true;
    const smooth = smoothEma(pts.map((p) => p[1]), smoothing);
    return `<polyline fill="none" stroke="${color}" stroke-opacity="0.25" stroke-width="1.2" points="${path(pts)}"/>` +
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${path(pts.map(([x], i) => [x, smooth[i]]))}"/>`;
  }).join('');
  let dx = 0;
  const legend = drawn.map(({ s, color }) => {
    const item = `<tspan fill="${color}" dx="${dx}">&#9632;</tspan><tspan dx="4">${escapeHtml(s.name)}</tspan>`;
    dx = 14;
    return item;
  }).join('');
  const smoothNote = smoothedAny ? `<text x="${W - RIGHT}" y="16" text-anchor="end" fill="#666">smoothed: EMA ${smoothing}</text>` : '';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11" font-family="system-ui,sans-serif" role="img" aria-label="${escapeHtml(chart.title)}">` +
    `<text x="${LEFT}" y="16" font-size="13" font-weight="bold">${escapeHtml(chart.title)}</text>${smoothNote}` +
    `<text x="${LEFT}" y="34">${legend}</text>${xGrid}${yGrid}` +
    `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${H - BOTTOM}" y2="${H - BOTTOM}" stroke="#888"/>` +
    `<line x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${H - BOTTOM}" stroke="#888"/>` +
    `<text x="${(LEFT + W - RIGHT) / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(chart.xLabel)}</text>${lines}</svg>`;
  return `<figure class="chart">${svg}${sentences}</figure>`;
}
