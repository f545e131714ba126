// Issue 13 §1: a GRPO step on the model's device copies to the host only what the host needs: the sampled ids of
// each decode step, the generation's log-probs once, scalar losses and norms; never logits, per-token tensors or
// the advantages (computed on the device from the host rewards), except the advantages once for the completions log.
import { describe, expect, it, vi } from 'vitest';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { GRPOTrainer } from '../src/train/grpo.js';
import { additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';
import { forEachBackend } from './helpers/reference.js';

forEachBackend((device) => {
  describe('a GRPO step', () => {
    for (const logCompletions of [false, true]) {
      it(`reads back only ids, scalars and the generation's log-probs${logCompletions ? ', and the advantages for the completions log' : ''}`, async () => {
        const tok = additionTokenizer();
        const model = new nn.LlamaForCausalLM({ vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1,
          numAttentionHeads: 2, tieWordEmbeddings: true, maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId }, { seed: 4 });
        const ref = new nn.LlamaForCausalLM(model.config, { seed: 5 });
        const N = 8, maxLen = 6;
        const trainer = new GRPOTrainer(model, tok, additionTrainProblems(16, 5).map((p) => ({ prompt: p.prompt, answer: p.answer })),
          [tg.rewards.accuracy()], { maxSteps: 1, numGenerations: 4, generationBatchSize: N, microBatchSize: 4, maxCompletionLength: maxLen,
            seed: 3, beta: 0.04, numIterations: 2, device, logCompletions, logEvery: 1 }, {}, ref);
        const backend = model.parameters()[0].backend;
        const reads: string[] = [];
        const read = backend.read.bind(backend);
        const spy = vi.spyOn(backend, 'read').mockImplementation((id, offset, out) => {
          reads.push(`${out instanceof Int32Array ? 'int32' : 'float32'} ${out.length}`);
          read(id, offset, out);
        });
        try {
          await trainer.trainStep();
        } finally {
          spy.mockRestore();
        }
        const generation = `float32 ${maxLen * N}`;
        expect(reads.filter((r) => r === generation)).toHaveLength(2);
        const others = reads.filter((r) => r !== generation && !/^int32 [1-8]$/.test(r) && r !== 'float32 1');
        expect(others).toEqual(logCompletions ? [`float32 ${N}`] : []);
        model.dispose();
        ref.dispose();
      });
    }
  });
});
