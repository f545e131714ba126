// The `thinkgrad` subcommands that take a JSON run config: their help, their functions (callable from code and
// tests with a parsed config), and the argument handling shared by all of them.
import { ConfigError, readConfigFile, type RunOptions } from './common.js';
import { SFT_HELP, sftCommand } from './sft.js';
import { GRPO_HELP, grpoCommand } from './grpo.js';
import { SAMPLE_HELP, sampleCommand } from './sample.js';
import { DISTILL_HELP, distillCommand } from './distill.js';
import { EVAL_HELP, evalCommand } from './eval.js';
import { GENERATE_HELP, generateCommand } from './generate.js';
import { RM_HELP, rmCommand } from './rm.js';

export { ConfigError, readConfigFile, type RunOptions } from './common.js';
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
  run: (config: unknown, options?: RunOptions) => Promise<unknown>;
}

export const CONFIG_COMMANDS: Record<string, ConfigCommand> = {
  sft: { summary: 'supervised fine-tuning on prompt/completion pairs (cold start)', help: SFT_HELP, run: sftCommand },
  grpo: { summary: 'GRPO with rule-based rewards', help: GRPO_HELP, run: grpoCommand },
  sample: { summary: 'rejection sampling: keep correct, well-formed completions as an SFT dataset', help: SAMPLE_HELP, run: sampleCommand },
  distill: { summary: "SFT a student on a teacher's rejection-sampled completions", help: DISTILL_HELP, run: distillCommand },
  eval: { summary: 'pass@1, cons@k and greedy accuracy on problems with answers', help: EVAL_HELP, run: evalCommand },
  generate: { summary: 'sample completions of prompts', help: GENERATE_HELP, run: generateCommand },
  rm: { summary: 'train a reward model on pairwise preferences (Bradley-Terry)', help: RM_HELP, run: rmCommand },
};

/** `thinkgrad <name> --config FILE` (or `--help`): returns the exit code. Bad configs throw ConfigError. */
export async function runConfigCommand(name: string, args: string[]): Promise<number> {
  const cmd = CONFIG_COMMANDS[name];
  if (!cmd) throw new ConfigError(`unknown command '${name}'`);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(cmd.help);
    return 0;
  }
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--config' || a === '-c') {
      file = args[++i];
      if (file === undefined) throw new ConfigError('--config needs a file');
    } else if (a.startsWith('--config=')) {
      file = a.slice('--config='.length);
    } else {
      throw new ConfigError(`unknown option ${a} (thinkgrad ${name} takes --config FILE; see thinkgrad ${name} --help)`);
    }
  }
  if (!file) throw new ConfigError(`missing --config FILE (see thinkgrad ${name} --help)`);
  await cmd.run(readConfigFile(file), { source: file });
  return 0;
}
