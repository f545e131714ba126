// The HTML report: round axis ticks, TensorBoard smoothing, all-zero series replaced by a sentence, the
// start/end completions table (policy output escaped), the config section, and a headless-Chromium screenshot
// where Chromium is installed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chartHtml, formatTick, niceTicks, smoothEma, zeroSentences } from '../src/cli/chart.js';
import { zeroReasons } from '../src/cli/commands/grpo.js';
import { compactJson, completionTables, renderReport, StartEndCompletions, writeReport } from '../src/cli/report.js';
import { GRPO_DEFAULTS } from '../src/train/grpo.js';
import type { LogRecord } from '../src/train/logger.js';
import { findChromium, screenshot } from '../scripts/screenshot-report.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-report-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// Every tick a multiple of 1, 2 or 5 x 10^k, equally spaced, at most maxTicks, covering [lo, hi].
function expectNice(ticks: number[], lo: number, hi: number, maxTicks: number) {
  expect(ticks.length).toBeGreaterThanOrEqual(2);
  expect(ticks.length).toBeLessThanOrEqual(maxTicks);
  expect(ticks[0]).toBeLessThanOrEqual(lo);
  expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(hi);
  const step = ticks[1] - ticks[0];
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  expect([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9)).toBe(true);
  for (let i = 0; i < ticks.length; i++) {
    expect(Math.abs(ticks[i] - (ticks[0] + i * step))).toBeLessThan(step * 1e-9);
    const multiple = ticks[i] / step;
    expect(Math.abs(multiple - Math.round(multiple))).toBeLessThan(1e-9);
    expect(Number(ticks[i].toPrecision(10))).toBe(ticks[i]); // no float residue such as 0.30000000000000004
  }
}

describe('axis ticks', () => {
  it('gives round values covering the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.13, 0.87)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(1, 400, 8, true)).toEqual([0, 100, 200, 300, 400]);
    expect(niceTicks(1, 7, 8, true)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(niceTicks(-0.031, 0.012)).toEqual([-0.04, -0.02, 0, 0.02]);
    const cases: [number, number][] = [[0.3, 0.7], [-5.2, 13.9], [1e-5, 3.2e-5], [12345, 98765], [-1e-3, 0], [0.1, 0.1 + 1e-3], [2.5e8, 7.1e8]];
    for (const [lo, hi] of cases) for (const max of [4, 6, 8]) expectNice(niceTicks(lo, hi, max), lo, hi, max);
  });

  it('keeps integer axes in whole steps and spreads a single value', () => {
    expect(niceTicks(3, 3, 8, true)).toEqual([2, 3, 4]);
    expect(niceTicks(0, 0)).toEqual([-1, -0.5, 0, 0.5, 1]);
    expectNice(niceTicks(0.75, 0.75), 0.75, 0.75, 6);
    expect(niceTicks(1, 3, 8, true).every(Number.isInteger)).toBe(true);
  });

  it('labels ticks with the decimals their spacing needs', () => {
    expect(niceTicks(0, 1).map((t, _, all) => formatTick(t, all))).toEqual(['0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect([0, 100, 200].map((t, _, all) => formatTick(t, all))).toEqual(['0', '100', '200']);
    expect([0, 1e-5, 2e-5].map((t, _, all) => formatTick(t, all))).toEqual(['0', '1e-5', '2e-5']);
    expect([2e6, 4e6].map((t, _, all) => formatTick(t, all))).toEqual(['2e6', '4e6']);
  });

  it('rejects bad ranges naming the function', () => {
    expect(() => niceTicks(Number.NaN, 1)).toThrow(TypeError);
    expect(() => niceTicks(2, 1)).toThrow(/niceTicks: lo 2 is above hi 1/);
    expect(() => niceTicks(0, 1, 1)).toThrow(/niceTicks: maxTicks/);
    expect(() => niceTicks(-1e308, 1e308)).toThrow(/niceTicks: the span .* overflows/);
  });
});

describe('smoothing', () => {
  it('is a debiased EMA: weight 0 is the identity, a constant stays constant, the first value is kept', () => {
    expect(smoothEma([3, 1, 4], 0)).toEqual([3, 1, 4]);
    for (const v of smoothEma([2, 2, 2, 2], 0.9)) expect(v).toBeCloseTo(2, 12);
    const y = [1, 0, 0, 5];
    const w = 0.6;
    // s_t = (sum_i w^(t-i) (1-w) y_i) / (1 - w^(t+1)), written out for the 4th value.
    const expected = ((1 - w) * (w ** 3 * 1 + w ** 2 * 0 + w * 0 + 5)) / (1 - w ** 4);
    const s = smoothEma(y, w);
    expect(s[0]).toBeCloseTo(1, 12);
    expect(s[3]).toBeCloseTo(expected, 12);
    expect(() => smoothEma([1], 1)).toThrow(/smoothEma: weight/);
    expect(() => smoothEma([1, Number.NaN], 0.5)).toThrow(TypeError);
  });

  it('draws long series faint with the smoothed line on top, short ones plain with markers', () => {
    const noisy = Array.from({ length: 40 }, (_, i): [number, number] => [i + 1, Math.sin(i) + i / 10]);
    const html = chartHtml({ title: 'Reward', xLabel: 'GRPO step', series: [{ name: 'reward', points: noisy }] });
    expect(html).toContain('stroke-opacity="0.25"');
    expect(html.match(/<polyline/g)).toHaveLength(2);
    expect(html).toContain('smoothed: EMA 0.6');
    const sparse = chartHtml({ title: 'pass@1', xLabel: 'GRPO step', smoothing: 0, series: [{ name: 'pass@1', points: noisy }] });
    expect(sparse).not.toContain('stroke-opacity');
    const short = chartHtml({ title: 'few', xLabel: 'step', series: [{ name: 'a', points: noisy.slice(0, 5) }] });
    expect(short.match(/<circle/g)).toHaveLength(5);
    // Intermediate x ticks, not just both ends.
    expect(html).toMatch(/>10<\/text>.*>20<\/text>.*>30<\/text>/);
  });
});

describe('all-zero series', () => {
  it('replaces a chart whose series are all 0 by sentences saying why', () => {
    const zeros = (n: number) => Array.from({ length: n }, (_, i): [number, number] => [i + 1, 0]);
    const why = zeroReasons({ ...GRPO_DEFAULTS, beta: 0, numIterations: 1 });
    const clip = chartHtml({ title: 'Clip ratio', xLabel: 'GRPO step', series: ['clip_ratio/low_mean', 'clip_ratio/high_mean'].map((k) => ({ name: k, points: zeros(12), whyZero: why[k] })) });
    expect(clip).not.toContain('<svg');
    expect(clip).toContain('clip_ratio/low_mean and clip_ratio/high_mean are 0 at every logged step: with numIterations = 1');
    const mixed = chartHtml({ title: 'KL and entropy', xLabel: 'GRPO step', series: [
      { name: 'kl', points: zeros(12), whyZero: why.kl }, { name: 'entropy', points: zeros(12).map(([x]) => [x, 1 / x]) }] });
    expect(mixed).toContain('<svg');
    expect(mixed).not.toMatch(/<tspan[^>]*>kl</);
    expect(mixed).toContain('kl is 0 at every logged step: beta = 0 keeps no reference model');
    expect(zeroSentences([{ name: 'x', points: [[1, 0]] }])).toEqual(['x is 0 at every logged step, so it is not drawn.']);
    expect(zeroReasons({ ...GRPO_DEFAULTS, beta: 0.04, numIterations: 2 })).toEqual({});
  });
});

const completionRecords = (): LogRecord[] => [1, 2, 3].flatMap((step) => Array.from({ length: 4 }, (_, i) => ({
  step, prompt: `${step}${i}+1=`, completion: i === 0 ? '<script>alert("x")</script> & <b>bold</b>' : `<think>${i}</think><answer>${step}</answer>`,
  'rewards/accuracy': i % 2, 'rewards/format': i === 3 ? null : 1, advantage: i - 1.5,
})));

describe('sample completions table', () => {
  it('shows the first and the last logged step with each reward and the advantage', () => {
    const tables = completionTables(completionRecords(), 3);
    expect(tables.map((t) => t.title)).toEqual(['Sample completions at the start of GRPO (step 1, 3 of 4 logged)', 'Sample completions at the end of GRPO (step 3, 3 of 4 logged)']);
    expect(tables[0].header).toEqual(['prompt', 'completion', 'accuracy', 'format', 'advantage']);
    expect(tables[1].rows[1]).toEqual(['31+1=', '<think>1</think><answer>3</answer>', 1, 1, -0.5]);
    expect(completionTables(completionRecords().filter((r) => r.step === 2))[0].title).toBe('Sample completions of GRPO (step 2, 4 of 4 logged)');
    expect(completionTables([])).toEqual([]);
    const kept = new StartEndCompletions();
    for (const step of [1, 2, 3]) kept.add(completionRecords().filter((r) => r.step === step));
    expect(kept.records.map((r) => r.step)).toEqual([1, 1, 1, 1, 3, 3, 3, 3]);
    expect(() => completionTables([{ step: 1, prompt: 'p' }])).toThrow(/completionTables: record 0/);
    expect(() => completionTables([], 0)).toThrow(RangeError);
  });

  it('renders policy output as text: no markup from a completion reaches the page', () => {
    const html = renderReport('run <1>', [], [], ['note <i>'], { completions: { records: completionRecords() } });
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>bold');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;');
    expect(html).toContain('<title>run &lt;1&gt;</title>');
    expect(html).toContain('<p>note &lt;i&gt;</p>');
    // Null rewards (not scored) render as '-'.
    expect(html).toMatch(/<td class="num">1<\/td><td class="text">-<\/td><td class="num">1\.50<\/td>/);
    const none = renderReport('r', [], [], [], { completions: { records: [], whyNone: 'logCompletions is false' } });
    expect(none).toContain('<h2>Sample completions</h2><p>logCompletions is false</p>');
  });
});

describe('config section', () => {
  it('shows the run config as escaped JSON', () => {
    const html = renderReport('r', [], [], [], { config: { output: 'runs/<x>', trainer: { beta: 0, lossType: 'dapo' } } });
    expect(html).toContain('<h2>Config</h2><pre class="config">{&quot;output&quot;: &quot;runs/&lt;x&gt;&quot;, &quot;trainer&quot;: {&quot;beta&quot;: 0, &quot;lossType&quot;: &quot;dapo&quot;}}</pre>');
    const config = { model: 'runs/sft/model', rewards: [{ name: 'accuracy' }, { name: 'format', weight: 0.1 }], note: 'a,b: "c"',
      trainer: { maxSteps: 40, rewardWeights: [1, 0.1], topK: null, outputDir: 'runs/grpo', learningRate: 0.003, lossType: 'dapo' } };
    const text = compactJson(config, 60);
    expect(JSON.parse(text)).toEqual(config);
    expect(text.split('\n')).toEqual(['{', '  "model": "runs/sft/model",', '  "rewards": [{"name": "accuracy"}, {"name": "format", "weight": 0.1}],',
      '  "note": "a,b: \\"c\\"",', '  "trainer": {', '    "maxSteps": 40,', '    "rewardWeights": [1, 0.1],', '    "topK": null,',
      '    "outputDir": "runs/grpo",', '    "learningRate": 0.003,', '    "lossType": "dapo"', '  }', '}']);
    expect(renderReport('r', [], [])).not.toContain('Config');
    expect(() => renderReport('r', [], [], [], { config: 3 as never })).toThrow(/renderReport: sections.config/);
  });
});

describe('in a browser', () => {
  const chromium = findChromium();
  it.skipIf(!chromium)(`renders to a PNG in headless Chromium${chromium ? '' : ' (skipped: no chromium on PATH; apt-get install chromium)'}`, () => {
    const file = path.join(root, 'report.html');
    const steps = Array.from({ length: 30 }, (_, i): [number, number] => [i + 1, Math.sin(i) / 4 + i / 30]);
    writeReport(file, 'screenshot', [], [{ title: 'Reward', xLabel: 'GRPO step', series: [{ name: 'reward', points: steps }] }], [], { completions: { records: completionRecords() } });
    const png = path.join(root, 'report.png');
    screenshot(chromium!, file, png, [800, 900]);
    const bytes = fs.readFileSync(png);
    expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(spawnSync(chromium!, ['--version']).status).toBe(0);
  });
});
