// The addon loader: a missing build fails with one message that lists what was tried and how to fix it.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('native loader', () => {
  it('loads the built addon', () => {
    expect(typeof native.alloc).toBe('function');
    expect(native.numThreads()).toBeGreaterThanOrEqual(1);
  });

  it('explains a missing addon: what was tried and how to fix it', () => {
    const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const r = spawnSync(process.execPath, [tsx, '-e', "import('./src/native.ts').catch((e) => { console.error(e.message); process.exit(1); })"], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, THINKGRAD_NATIVE_PATH: '/nonexistent/thinkgrad_native.node' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('the native engine is not built or failed to load');
    expect(r.stderr).toContain('/nonexistent/thinkgrad_native.node (missing)');
    expect(r.stderr).toContain('npm rebuild');
  });
});
