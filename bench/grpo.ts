// W3 (../shared/anchors): the fused GRPO loss from logits, N = 4096 tokens (64 sequences x 64), V = 64 and
// 32000: selectiveLogSoftmax + grpoLoss forward + backward w.r.t. the logits, 1 and 2 threads, beside
// PyTorch's log_softmax + gather version measured in the same run. Effective GB/s counts the fused minimum
// (logits read twice, gradient written once), and its share of the copy bandwidth measured in the same run (a
// 256 MiB tg.clone, read + write counted, as in bench/elementwise.ts); peak extra memory is the allocator's peak
// above the inputs.
// Run alone with `npx tsx bench/grpo.ts`, or as the `grpo` suite of bench/run.ts.
import * as tg from '../src/index.js';
import { native } from '../src/native.js';
import { fmt, medianMs, printTable, type Row, runTorch } from './lib.js';

type TorchW3 = Record<string, { fwd_bwd: number; fwd: number }>;

const S = 64, L = 64, N = S * L;

function inputs(V: number) {
  tg.manualSeed(0);
  const logits = tg.mul(tg.randn([N, V]), 2);
  const ids = tg.randint(0, V, [S, L], { dtype: 'int32' });
  const lp0 = tg.noGrad(() => tg.selectiveLogSoftmax(tg.reshape(logits, [S, L, V]), ids));
  const old = tg.add(lp0, tg.mul(tg.randn([S, L]), 0.3));
  const ref = tg.add(lp0, tg.mul(tg.randn([S, L]), 0.3));
  lp0.dispose();
  const adv = tg.randn([S]);
  const lengths = Array.from({ length: S }, (_, s) => L / 2 + ((s * 37) % (L / 2 + 1)));
  const mask = tg.tensor(Float32Array.from({ length: N }, (_, i) => ((i % L) < lengths[Math.floor(i / L)] ? 1 : 0)), [S, L]);
  return { logits, ids, old, ref, adv, mask };
}

export async function benchGrpo(threadCounts = [1, 2]): Promise<Row[]> {
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const threads of threadCounts) {
    tg.setNumThreads(threads);
    const torch = runTorch<TorchW3>('w3_grpo.py', threads, ['cpu']);
    const copyGBs = await copyBandwidth();
    rows.push({ workload: `memory copy bandwidth, ${threads}T (256 MiB clone, read + write)`, ours: copyGBs, theirs: null,
      unit: 'GB/s', source: '-', higherIsBetter: true });
    for (const V of [64, 32000]) {
      const d = inputs(V);
      const base = tg.reshape(d.logits, [S, L, V]);
      const step = (inplace: boolean) => () => {
        const leaf = inplace ? tg.clone(base).requiresGrad_() : base.requiresGrad_();
        tg.tidy(() => {
          const lp = tg.selectiveLogSoftmax(leaf, d.ids, { inplaceBackward: inplace });
          const { loss } = tg.grpoLoss(lp, { oldLogps: d.old, refLogps: d.ref, advantages: d.adv, mask: d.mask }, { beta: 0.04 });
          loss.backward();
        });
        leaf.zeroGrad();
        if (inplace) leaf.dispose();
      };
      const fwdOnly = () => tg.noGrad(() => tg.tidy(() => {
        const lp = tg.selectiveLogSoftmax(base, d.ids);
        tg.grpoLoss(lp, { oldLogps: d.old, refLogps: d.ref, advantages: d.adv, mask: d.mask }, { beta: 0.04 });
      }));
      const minTime = V === 64 ? 400 : 1500;
      const fb = await medianMs(step(false), minTime, 5);
      const fo = await medianMs(fwdOnly, minTime, 5);
      // Peak extra memory of one fwd+bwd above the inputs, the N x V gradient excluded (PyTorch has it too).
      native.resetPeak();
      const live = native.stats().liveBytes;
      step(false)();
      const extra = native.stats().peakBytes - live - N * V * 4;
      const bytesFB = 3 * N * V * 4;  // logits read in forward and backward, gradient written once
      const t = torch?.[`V=${V}`];
      rows.push({ workload: `W3 V=${V} fwd+bwd, ${threads}T (ms)`, ours: fb, theirs: t ? t.fwd_bwd * 1e3 : null, unit: 'ms',
        source: t ? 'PyTorch log_softmax+gather, same run' : '-', higherIsBetter: false });
      rows.push({ workload: `W3 V=${V} fwd only, ${threads}T (ms)`, ours: fo, theirs: t ? t.fwd * 1e3 : null, unit: 'ms',
        source: t ? 'PyTorch log_softmax+gather, same run' : '-', higherIsBetter: false });
      const effGBs = bytesFB / (fb / 1e3) / 1e9;
      rows.push({ workload: `W3 V=${V} fwd+bwd effective bandwidth, ${threads}T (${fmt((100 * effGBs) / copyGBs)}% of copy)`, ours: effGBs,
        theirs: t ? bytesFB / t.fwd_bwd / 1e9 : null, unit: 'GB/s', source: t ? 'PyTorch, same run' : '-', higherIsBetter: true });
      if (V === 32000) {
        // Kernels alone with the gradient written in place over a scratch copy of the logits (no N x V
        // allocation at all); the values change after the first run, the work does not.
        const scratch = tg.clone(base);
        const [lpB, lseB, gB] = [tg.empty([N]), tg.empty([N]), tg.full([N], 1e-3)];
        const sid = scratch.storage.id, iid = d.ids.storage.id;
        const ip = await medianMs(() => {
          native.selectiveLogSoftmax(sid, 0, V, iid, N, V, 1, lpB.storage.id, lseB.storage.id, null);
          native.selectiveLogSoftmaxBackward(sid, 0, V, sid, 0, V, iid, lseB.storage.id, gB.storage.id, null, null, N, V, 1);
        }, minTime, 5);
        rows.push({ workload: `W3 V=${V} kernels only, gradient in place, ${threads}T (ms)`, ours: ip,
          theirs: t ? t.fwd_bwd * 1e3 : null, unit: 'ms', source: t ? 'PyTorch, same run' : '-', higherIsBetter: false });
        for (const x of [scratch, lpB, lseB, gB]) x.dispose();
      }
      notes.push(`V=${V}, ${threads}T: peak extra memory ${fmt(extra / 1024)} KiB beyond the inputs and the N x V gradient ` +
        `(N x V x 4 = ${fmt((N * V * 4) / 2 ** 20)} MiB)`);
      for (const t2 of [d.logits, d.ids, d.old, d.ref, d.adv, d.mask, base]) t2.dispose();
      tg.emptyCache();
    }
  }
  tg.setNumThreads(Math.max(...threadCounts));
  printTable('W3 GRPO loss from logits (fused selectiveLogSoftmax + grpoLoss)', rows);
  for (const n of notes) console.log(`- ${n}`);
  return rows;
}

// GB/s of a 64Mi-float tg.clone (read + write counted): what a memory-bound kernel can reach here.
async function copyBandwidth(): Promise<number> {
  const a = tg.randn([1 << 26]);
  const ms = await medianMs(() => tg.tidy(() => { tg.clone(a); }), 500);
  a.dispose();
  tg.emptyCache();
  return (2 * (1 << 26) * 4) / (ms / 1e3) / 1e9;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchGrpo();
