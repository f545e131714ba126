// `thinkgrad demo`: flags of the embedded-task demo (src/cli/demo.ts runs it).
import { DEMO_DEFAULTS, runDemo } from '../demo.js';
import { ConfigError } from './common.js';

export const DEMO_HELP = `thinkgrad demo: cold-start SFT, GRPO, rejection sampling, distillation and evaluation on 3-digit addition

Options:
  --seed N         seed for data, models and sampling (default ${DEMO_DEFAULTS.seed})
  --out DIR        output folder for logs, checkpoints and report.html (default ${DEMO_DEFAULTS.outputDir})
  --grpo-steps N   GRPO steps (default ${DEMO_DEFAULTS.grpoSteps})
  --device D       auto (a GPU when usable, else the CPU; the default), cpu or cuda

Example:
  thinkgrad demo --seed 2 --out runs/demo-2`;

const DEVICES = ['auto', 'cpu', 'cuda'] as const;

function parseFlags(args: string[], allowed: Record<string, 'int' | 'string' | readonly string[]>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const kind = allowed[flag];
    if (!kind) throw new ConfigError(`unknown option ${flag}`);
    const value = args[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    if (Array.isArray(kind)) {
      if (!kind.includes(value)) throw new ConfigError(`${flag} must be one of ${kind.join(', ')}, got ${value}`);
      out[flag] = value;
    } else if (kind === 'int') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${flag} must be a non-negative integer, got ${value}`);
      out[flag] = n;
    } else {
      out[flag] = value;
    }
  }
  return out;
}

export async function demoCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(DEMO_HELP);
    return 0;
  }
  const flags = parseFlags(args, { '--seed': 'int', '--out': 'string', '--grpo-steps': 'int', '--device': DEVICES });
  await runDemo({
    ...(flags['--seed'] !== undefined ? { seed: flags['--seed'] as number } : {}),
    ...(flags['--out'] !== undefined ? { outputDir: flags['--out'] as string } : {}),
    ...(flags['--grpo-steps'] !== undefined ? { grpoSteps: flags['--grpo-steps'] as number } : {}),
    ...(flags['--device'] !== undefined ? { device: flags['--device'] as (typeof DEVICES)[number] } : {}),
  });
  return 0;
}
