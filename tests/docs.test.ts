// The docs cannot go stale silently: the API reference in docs/api is regenerated and compared, the GRPO guide
// covers every GRPOConfig option, the reward guide every export of `rewards`, and relative links resolve.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GRPO_DEFAULTS, rewards } from '../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

describe('docs', () => {
  it('docs/api is what `npm run docs` generates from the doc comments now', () => {
    const out = mkdtempSync(join(tmpdir(), 'thinkgrad-api-'));
    try {
      const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out, '--logLevel', 'Warn'],
        { cwd: root, encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
      const fresh = files(out);
      expect(files(join(root, 'docs', 'api')), 'docs/api has other files than typedoc generates: run `npm run docs`').toEqual(fresh);
      const stale = fresh.filter((f) => readFileSync(join(out, f), 'utf8') !== readFileSync(join(root, 'docs', 'api', f), 'utf8'));
      expect(stale, 'docs/api is stale: run `npm run docs` and commit docs/api').toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('the GRPO guide maps every GRPOConfig option', () => {
    const guide = readFileSync(join(root, 'docs', 'grpo.md'), 'utf8');
    const rows = new Set([...guide.matchAll(/^\| `[a-z0-9_]+`[^|]*\| `(\w+)` \|/gm)].map((m) => m[1]));
    expect([...rows].sort()).toEqual(Object.keys(GRPO_DEFAULTS).sort());
  });

  it('the reward guide names every export of rewards', () => {
    const guide = readFileSync(join(root, 'docs', 'rewards.md'), 'utf8');
    expect(Object.keys(rewards).filter((name) => !guide.includes(`\`${name}\``))).toEqual([]);
  });

  it('relative links in README.md and docs/*.md resolve', () => {
    const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    for (const page of pages) {
      for (const m of readFileSync(join(root, page), 'utf8').matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(m[1])) continue;
        if (!existsSync(join(root, dirname(page), m[1]))) broken.push(`${page}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
