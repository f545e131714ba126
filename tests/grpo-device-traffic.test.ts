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
        const N = 8;
        const trainer = new GRPOTrainer(model, tok, additionTrainProblems(16, 5).map((p) => ({ prompt: p.prompt, answer: p.answer })),
          [tg.rewards.accuracy()], { maxSteps: 1, numGenerations: 4, generationBatchSize: N, microBatchSize: 4, maxCompletionLength: 6,
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
        // generate's reads come first: R <= N ids per decode step, then its two log-prob buffers of (steps x N)
        const ids = reads.filter((r) => r.startsWith('int32'));
        ids.forEach((r) => expect(Number(r.split(' ')[1])).toBeLessThanOrEqual(N));
        const floats = reads.filter((r) => r.startsWith('float32') && r !== 'float32 1');
        const steps = Number(floats[0].split(' ')[1]) / N;
        expect(steps).toBe(ids.length);
        expect(floats.slice(0, 2)).toEqual([`float32 ${steps * N}`, `float32 ${steps * N}`]);
        // then only scalars (losses, the gradient norm), and the advantages for the completions log
        expect(floats.slice(2)).toEqual(logCompletions ? [`float32 ${N}`] : []);
        model.dispose();
        ref.dispose();
      });
    }
  });
});
