// `npm run report:screenshot [out-dir]`: trains a tiny model (a short SFT, then GRPO with beta 0 and one
// iteration, evaluated every few steps), writes its report.html and screenshots it in headless Chromium, so the
// report is checked as a browser draws it. Needs `chromium` on PATH (Debian: apt-get install chromium).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The Chromium executable: $CHROMIUM, else the first of chromium, chromium-browser, google-chrome on PATH; null if none. */
export function findChromium(): string | null {
  if (process.env.CHROMIUM) return fs.existsSync(process.env.CHROMIUM) ? process.env.CHROMIUM : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of CANDIDATES) {
      const file = path.join(dir, name);
      if (fs.existsSync(file)) return file;
    }
  }
  return null;
}

/** Screenshots `htmlFile` into `pngFile` at `size` = [width, height] CSS pixels; throws with Chromium's output on failure. */
export function screenshot(chromium: string, htmlFile: string, pngFile: string, size: [number, number] = [1200, 2000]): void {
  if (!fs.existsSync(htmlFile)) throw new RangeError(`screenshot: ${htmlFile} does not exist`);
  const [width, height] = size;
  if (![width, height].every((v) => Number.isInteger(v) && v > 0)) throw new RangeError(`screenshot: size must be two positive integers, got ${size}`);
  fs.rmSync(pngFile, { force: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-chromium-'));
  try {
    // No sandbox: Chromium refuses to sandbox as root, which is how CI containers run.
    const run = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--hide-scrollbars', `--screenshot=${path.resolve(pngFile)}`,
      `--window-size=${width},${height}`, pathToFileURL(path.resolve(htmlFile)).href], { encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0 || !fs.existsSync(pngFile)) {
      throw new Error(`screenshot: ${chromium} exited with ${run.status ?? run.signal}: ${(run.stderr || run.stdout || String(run.error)).trim().slice(-2000)}`);
    }
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function main(outDir: string): Promise<void> {
  const chromium = findChromium();
  if (!chromium) throw new Error('screenshot-report: no chromium on PATH (Debian: apt-get install chromium; or set CHROMIUM)');
  const { grpoCommand, sftCommand } = await import('../src/cli/commands/index.js');
  const at = (...p: string[]) => path.join(outDir, ...p);
  const model = { hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 };
  await sftCommand({
    modelConfig: model, modelSeed: 1, tokenizer: { type: 'addition' }, data: { task: 'addition', count: 256, seed: 3 },
    trainer: { maxSteps: 120, batchSize: 16, learningRate: 1e-2, logEvery: 2, seed: 1 }, output: at('sft'), overwrite: true,
  }, { quiet: true });
  await grpoCommand({
    model: at('sft', 'model'), data: { task: 'addition', count: 256, seed: 4 },
    rewards: [{ name: 'accuracy' }, { name: 'format', weight: 0.1 }],
    trainer: { maxSteps: 40, numGenerations: 4, generationBatchSize: 16, microBatchSize: 16, maxCompletionLength: 24, learningRate: 3e-3, seed: 1 },
    eval: { data: { task: 'addition', split: 'heldout', count: 16 }, k: 2, every: 10 }, output: at('grpo'), overwrite: true,
  }, { quiet: true });
  for (const run of ['sft', 'grpo']) {
    const png = at(`${run}-report.png`);
    screenshot(chromium, at(run, 'report.html'), png, [1200, run === 'grpo' ? 3600 : 1400]);
    console.log(`${at(run, 'report.html')} -> ${png}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(path.resolve(process.argv[2] ?? 'report-screenshot')).catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
