// The `thinkgrad` subcommands that take a JSON run config: their help, their functions (callable from code and
// tests with a parsed config), and the argument handling shared by all of them.
import { applyOverrides, parseRunArgs } from '../args.js';
import { ConfigError, type Interruption, readConfigFile, type RunOptions } from './common.js';
import { FIELDS as SFT_TOP_FIELDS, SFT_HELP, sftCommand } from './sft.js';
import { FIELDS as GRPO_TOP_FIELDS, GRPO_HELP, grpoCommand } from './grpo.js';
import { FIELDS as SAMPLE_TOP_FIELDS, SAMPLE_HELP, sampleCommand } from './sample.js';
import { FIELDS as DISTILL_TOP_FIELDS, DISTILL_HELP, distillCommand } from './distill.js';
import { FIELDS as EVAL_TOP_FIELDS, EVAL_HELP, evalCommand } from './eval.js';
import { FIELDS as GENERATE_TOP_FIELDS, GENERATE_HELP, generateCommand } from './generate.js';
import { FIELDS as RM_TOP_FIELDS, RM_HELP, rmCommand } from './rm.js';

export { ConfigError, readConfigFile, type Interruption, type RunOptions } from './common.js';
export { sftCommand, type SftResult } from './sft.js';
export { grpoCommand, type GrpoResult } from './grpo.js';
export { sampleCommand, type SampleResult } from './sample.js';
export { distillCommand, type DistillResult } from './distill.js';
export { evalCommand, type EvalCommandResult } from './eval.js';
export { generateCommand, type GenerateCommandResult } from './generate.js';
export { rmCommand, type RmResult } from './rm.js';

export interface ConfigCommand {
  summary: string;
  help: string;
  /** The config's top-level fields (what --<field> overrides may set). */
  fields: readonly string[];
  run: (config: unknown, options?: RunOptions) => Promise<unknown>;
  /** Training commands: --resume, and SIGINT/SIGTERM stop them after a step with a checkpoint. */
  trains?: boolean;
}

export const CONFIG_COMMANDS: Record<string, ConfigCommand> = {
  sft: { summary: 'supervised fine-tuning on prompt/completion pairs (cold start)', help: SFT_HELP, fields: SFT_TOP_FIELDS, run: sftCommand, trains: true },
  grpo: { summary: 'GRPO with rule-based rewards', help: GRPO_HELP, fields: GRPO_TOP_FIELDS, run: grpoCommand, trains: true },
  sample: { summary: 'rejection sampling: keep correct, well-formed completions as an SFT dataset', help: SAMPLE_HELP, fields: SAMPLE_TOP_FIELDS, run: sampleCommand },
  distill: { summary: "SFT a student on a teacher's rejection-sampled completions", help: DISTILL_HELP, fields: DISTILL_TOP_FIELDS, run: distillCommand, trains: true },
  eval: { summary: 'pass@1, cons@k and greedy accuracy on problems with answers', help: EVAL_HELP, fields: EVAL_TOP_FIELDS, run: evalCommand },
  generate: { summary: 'sample completions of prompts', help: GENERATE_HELP, fields: GENERATE_TOP_FIELDS, run: generateCommand },
  rm: { summary: 'train a reward model on pairwise preferences (Bradley-Terry)', help: RM_HELP, fields: RM_TOP_FIELDS, run: rmCommand, trains: true },
};

// An argument as the shell reads it back.
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command line that resumes a stopped run: the same arguments, with --resume CHECKPOINT. */
export function resumeCommandLine(name: string, args: readonly string[], checkpoint: string): string {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--resume=')) continue;
    if (args[i] === '--resume') {
      if (args[i + 1] !== undefined && !args[i + 1].startsWith('--')) i++;
      continue;
    }
    kept.push(args[i]);
  }
  return ['thinkgrad', name, ...kept, '--resume', checkpoint].map(shellQuote).join(' ');
}

/**
 * `thinkgrad <name> [--config FILE] [--<field> VALUE ...] [--resume [CHECKPOINT]]` (or `--help`): returns the
 * exit code. Bad configs throw ConfigError. While a training command runs, SIGINT/SIGTERM stop it after the
 * step in progress: it writes a checkpoint, prints how to resume and returns 130 (a second signal exits at once).
 */
export async function runConfigCommand(name: string, args: string[]): Promise<number> {
  const cmd = CONFIG_COMMANDS[name];
  if (!cmd) throw new ConfigError(`unknown command '${name}'`);
  const parsed = parseRunArgs(name, args);
  if (parsed.help) {
    console.log(cmd.help);
    return 0;
  }
  if (parsed.resume !== null && !cmd.trains) throw new ConfigError(`--resume applies to the training commands (${Object.keys(CONFIG_COMMANDS).filter((k) => CONFIG_COMMANDS[k].trains).join(', ')}), not ${name}`);
  if (parsed.configFile === null && parsed.overrides.length === 0) throw new ConfigError(`missing --config FILE (see thinkgrad ${name} --help)`);
  for (const [fieldPath] of parsed.overrides) {
    const top = fieldPath.split('.')[0];
    if (!cmd.fields.includes(top)) throw new ConfigError(`unknown option --${fieldPath}: thinkgrad ${name} has no config field '${top}' (fields: ${cmd.fields.join(', ')})`);
  }
  const source = parsed.configFile ?? 'the command line';
  const fromFile = parsed.configFile === null ? {} : readConfigFile(parsed.configFile);
  const config = parsed.overrides.length > 0 ? applyOverrides(fromFile, parsed.overrides, source) : fromFile;
  const options: RunOptions = { source: parsed.overrides.length > 0 && parsed.configFile !== null ? `${source} (with command-line overrides)` : source };
  if (!cmd.trains) {
    await cmd.run(config, options);
    return 0;
  }
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      console.error(`\nthinkgrad ${name}: ${signal} again: exiting without a checkpoint of the step in progress`);
      process.exit(130);
    }
    received = signal;
    console.error(`\nthinkgrad ${name}: ${signal}: finishing the current step, then writing a checkpoint (${signal} again exits at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let result: { interrupted?: Interruption | null };
  try {
    result = (await cmd.run(config, { ...options, signal: controller.signal, ...(parsed.resume !== null ? { resume: parsed.resume } : {}) })) as typeof result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const stop = result.interrupted;
  if (!stop) return 0;
  if (stop.checkpoint) {
    console.error(`thinkgrad ${name}: stopped by ${received ?? 'a stop request'} after step ${stop.step} of ${stop.maxSteps}; checkpoint: ${stop.checkpoint}`);
    console.error(`Resume with: ${resumeCommandLine(name, args, stop.checkpoint)}`);
  } else {
    console.error(`thinkgrad ${name}: stopped by ${received ?? 'a stop request'} before the first training step; there is nothing to resume`);
  }
  return 130;
}
