// The runnable examples, run the way a user runs them (importing the package by name, from its build).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('examples', () => {
  it('quickstart trains, samples and takes a GRPO gradient', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'examples/quickstart.ts'], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const losses = [...r.stdout.matchAll(/step \d+: loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    expect(r.stdout).toMatch(/gradients reached \d+ parameters/);
  });
});
