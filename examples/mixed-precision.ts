// Mixed precision on the CPU: the same training run at float32 and at 'medium' matmul precision (bfloat16
// operands, float32 accumulation, float32 weights/gradients/AdamW state), then sampling with a bfloat16 KV
// cache. The precision is passed to each call (the process default, setFloat32MatmulPrecision, stays as it is).
// On CPUs without AVX512-BF16, 'medium' computes in float32 and both runs match exactly.
// Run: npx tsx examples/mixed-precision.ts
import * as tg from 'thinkgrad';

const config = { vocabSize: 64, hiddenSize: 128, intermediateSize: 352, numHiddenLayers: 2, numAttentionHeads: 4 };

function train(precision: tg.Float32MatmulPrecision): { losses: number[]; msPerStep: number; model: tg.nn.LlamaForCausalLM } {
  tg.manualSeed(0);
  const model = new tg.nn.LlamaForCausalLM(config, { seed: 0 });
  const opt = new tg.AdamW(model.parameters(), { lr: 3e-3 });
  const ids = tg.randint(0, 64, [16, 64]);
  const losses: number[] = [];
  const started = performance.now();
  for (let step = 0; step < 40; step++) {
    losses.push(tg.tidy(() => {
      const loss = model.loss(ids, undefined, { matmulPrecision: precision });
      loss.backward();
      return loss.item();
    }));
    opt.step();
    opt.zeroGrad();
  }
  ids.dispose();
  return { losses, msPerStep: (performance.now() - started) / 40, model };
}

const f32 = train('highest');
const mixed = train('medium');
console.log(`matmul kernel at medium precision: ${tg.matmulKernel('medium')}`);
for (const [name, run] of [['float32', f32], ['medium', mixed]] as const) {
  console.log(`${name}: loss ${run.losses[0].toFixed(3)} -> ${run.losses[run.losses.length - 1].toFixed(3)}, ${run.msPerStep.toFixed(1)} ms/step`);
}

// Sampling: the bfloat16 cache halves the bytes each decode step reads; greedy picks agree with float32 here.
const prompts = [[1, 2, 3], [4, 5, 6]];
const a = tg.generate(mixed.model, prompts, { maxNewTokens: 12, greedy: true, matmulPrecision: 'medium' });
const b = tg.generate(mixed.model, prompts, { maxNewTokens: 12, greedy: true, matmulPrecision: 'medium', kvCacheDtype: 'bfloat16' });
const same = a.completionIds.flat().filter((t, i) => t === b.completionIds.flat()[i]).length;
console.log(`bf16 KV cache: ${same} of ${a.completionIds.flat().length} greedy tokens as with the float32 cache`);
f32.model.dispose();
mixed.model.dispose();
