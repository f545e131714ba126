#!/usr/bin/env node
// The `thinkgrad` command: dispatches to the subcommands in src/cli/commands/.
import { demoCommand } from './commands/demo.js';
import { CONFIG_COMMANDS, ConfigError, runConfigCommand } from './commands/index.js';

const HELP = `thinkgrad: train reasoning models with the DeepSeek-R1 recipe

Usage: thinkgrad <command> [options]

Commands:
  demo      the whole recipe in miniature on the embedded addition task (a few minutes on 2 cores)
${Object.entries(CONFIG_COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`).join('\n')}

Every command but demo takes a JSON run config: thinkgrad <command> --config run.json, and --<field> VALUE
overrides any of its fields (thinkgrad sft --config run.json --trainer.learningRate 1e-4 --output runs/b).
Training commands (sft, grpo, rm, distill): Ctrl-C stops after the current step with a checkpoint (exit 130);
--resume continues from the newest complete checkpoint in the output folder, or --resume CHECKPOINT.
Run thinkgrad <command> --help for a command's config fields and an example.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP);
    return command ? 0 : 1;
  }
  if (command === 'demo') return demoCommand(rest);
  if (command in CONFIG_COMMANDS) return runConfigCommand(command, rest);
  console.error(`thinkgrad: unknown command '${command}'\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: Error) => {
  // Errors name what to fix; THINKGRAD_DEBUG=1 adds the stack of anything but a bad config or data file.
  const debug = process.env.THINKGRAD_DEBUG === '1' && !(err instanceof ConfigError);
  console.error(`thinkgrad: ${debug ? err.stack ?? err.message : err.message}`);
  process.exit(1);
});
