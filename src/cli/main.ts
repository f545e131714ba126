#!/usr/bin/env node
// The `thinkgrad` command.
import '../index.js';
import { runDemo, DEMO_DEFAULTS } from './demo.js';

const HELP = `thinkgrad: train reasoning models with the DeepSeek-R1 recipe

Usage: thinkgrad <command> [options]

Commands:
  demo      the whole recipe in miniature on the embedded addition task (a few minutes on 2 cores)

Run thinkgrad <command> --help for a command's options.`;

const DEMO_HELP = `thinkgrad demo: cold-start SFT, GRPO, rejection sampling, distillation and evaluation on 3-digit addition

Options:
  --seed N         seed for data, models and sampling (default ${DEMO_DEFAULTS.seed})
  --out DIR        output folder for logs, checkpoints and report.html (default ${DEMO_DEFAULTS.outputDir})
  --grpo-steps N   GRPO steps (default ${DEMO_DEFAULTS.grpoSteps})

Example:
  thinkgrad demo --seed 2 --out runs/demo-2`;

function parseFlags(args: string[], allowed: Record<string, 'int' | 'string'>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const kind = allowed[flag];
    if (!kind) throw new Error(`unknown option ${flag}`);
    const value = args[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (kind === 'int') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got ${value}`);
      out[flag] = n;
    } else {
      out[flag] = value;
    }
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP);
    return command ? 0 : 1;
  }
  if (command === 'demo') {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(DEMO_HELP);
      return 0;
    }
    const flags = parseFlags(rest, { '--seed': 'int', '--out': 'string', '--grpo-steps': 'int' });
    await runDemo({
      ...(flags['--seed'] !== undefined ? { seed: flags['--seed'] as number } : {}),
      ...(flags['--out'] !== undefined ? { outputDir: flags['--out'] as string } : {}),
      ...(flags['--grpo-steps'] !== undefined ? { grpoSteps: flags['--grpo-steps'] as number } : {}),
    });
    return 0;
  }
  console.error(`thinkgrad: unknown command '${command}'\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: Error) => {
  console.error(`thinkgrad: ${err.message}`);
  process.exit(1);
});
