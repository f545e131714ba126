// Training-side commands read the addition task's training split unless a config names "split": "heldout":
// the --help examples of sample and distill run as written (at tiny sizes), and their problems never
// include the held-out evaluation problems.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_COMMANDS, distillCommand, sampleCommand } from '../src/cli/commands/index.js';
import { loadData } from '../src/cli/commands/common.js';
import { ADDITION_HELD_OUT_SIZE, additionHeldOut, additionTokenizer } from '../src/tasks/addition.js';
import * as tg from '../src/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-cli-splits-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const quiet = { quiet: true, source: 'run.json' };
const heldOutPrompts = new Set(additionHeldOut().map((p) => p.prompt));

/** The JSON config printed under "Example run.json:" in a command's --help. */
function helpExample(help: string): Record<string, unknown> {
  const text = help.slice(help.indexOf('Example run.json:') + 'Example run.json:'.length, help.lastIndexOf('  thinkgrad '));
  return JSON.parse(text) as Record<string, unknown>;
}

const tok = additionTokenizer();
const teacherDir = path.join(root, 'teacher');
const teacher = new tg.nn.LlamaForCausalLM({ vocabSize: tok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1,
  numAttentionHeads: 2, maxPositionEmbeddings: 64, tieWordEmbeddings: true, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId }, { seed: 1 });
tg.savePretrained(teacher, teacherDir, { tokenizer: tok });
teacher.dispose();

describe('data splits of the training-side commands', () => {
  it('problems for sample and distill come from the training split; the held-out split only when named', () => {
    const rows = loadData('run.json', 'data', { task: 'addition', count: ADDITION_HELD_OUT_SIZE }, 'problems').rows;
    expect(rows).toHaveLength(ADDITION_HELD_OUT_SIZE);
    expect(rows.filter((r) => heldOutPrompts.has(r.prompt as string))).toEqual([]);
    const named = loadData('run.json', 'data', { task: 'addition', count: 4, split: 'heldout' }, 'problems').rows;
    expect(named.every((r) => heldOutPrompts.has(r.prompt as string))).toBe(true);
    const evalRows = loadData('run.json', 'data', { task: 'addition', count: 4 }, 'eval').rows;
    expect(evalRows.every((r) => heldOutPrompts.has(r.prompt as string))).toBe(true);
  });

  it("sample's --help example runs, sampling training problems only", async () => {
    const config = helpExample(CONFIG_COMMANDS.sample.help);
    expect((config.data as { count: number }).count).toBeGreaterThan(ADDITION_HELD_OUT_SIZE);
    const output = path.join(root, 'sample');
    const res = await sampleCommand({ ...config, model: teacherDir, data: { ...(config.data as object), count: 6 },
      sampling: { ...(config.sampling as object), maxNewTokens: 4, requireFormat: false }, output }, quiet);
    expect(res.sampled).toBe(6 * (config.sampling as { k: number }).k);
    const report = fs.readFileSync(path.join(output, 'report.html'), 'utf8');
    expect(report).toContain('addition, 6 problems (seed 3)');
    expect(report).not.toContain('held-out split');
  });

  it("distill's --help example loads its prompts from the training split", async () => {
    const config = helpExample(CONFIG_COMMANDS.distill.help);
    const output = path.join(root, 'distill');
    // A random teacher solves nothing, so the run stops after sampling, having read its prompts.
    await expect(distillCommand({ ...config, teacher: teacherDir, prompts: { ...(config.prompts as object), count: 6 },
      sampling: { ...(config.sampling as object), maxNewTokens: 4 }, trainer: { ...(config.trainer as object), maxSteps: 1 },
      eval: { ...(config.eval as object), maxNewTokens: 4, k: 1 }, output }, quiet)).rejects.toThrow(/produced no accepted samples out of 6/);
  });
});
