// Device check for the CUDA GRPO kernels, plain Node (no dependencies: the GPU machine has no npm):
// correctness vs float64 references on fresh random inputs (outputs poisoned first), then W3 timings
// with CUDA events beside PyTorch on the same GPU. Used by bench/gpu.sh.
// Usage: node bench/gpu-grpo.mjs <thinkgrad_cuda.node> [outDir] [--check-only] [--small] [--bench-small]
// --small: fewer, smaller correctness cases; --bench-small: tiny timing shapes, 3 repetitions and no PyTorch (runs the whole
// script on the CPU emulator, tests/grpo-cuda-emulated.test.ts).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const [addonPath = 'build-cuda/Release/thinkgrad_cuda.node', outDir = process.env.OUT ?? '.'] = args.filter((a) => !a.startsWith('--'));
const here = dirname(fileURLToPath(import.meta.url));
const cuda = createRequire(import.meta.url)(resolve(addonPath));
const info = cuda.deviceInfo();
console.log('device:', JSON.stringify(info));
if (!info.available) {
  console.log(`no CUDA device: ${info.reason}`);
  process.exit(2);
}
const results = { device: info, checks: [], bench: [], torch: {} };
let failures = 0;

// ---- helpers --------------------------------------------------------------------------------------------
let seed = 12345;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const randn = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
function bf16Round(x) {  // round to nearest even, as the addon's upload does
  f32[0] = x;
  let u = u32[0];
  u = (u + 0x7fff + ((u >>> 16) & 1)) >>> 0;
  u32[0] = u & 0xffff0000;
  return f32[0];
}
function buf(data, dtype = data instanceof Int32Array ? 1 : 0) {
  const id = cuda.alloc(data.length, dtype);
  cuda.upload(id, 0, data);
  return id;
}
function down(id, n, int = false) {
  const a = int ? new Int32Array(n) : new Float32Array(n);
  cuda.download(id, 0, a);
  return a;
}
function poison(n) {
  return buf(new Float32Array(n).fill(NaN));
}
// ||a - r|| / ||r|| and whether every element satisfies |a - r| <= atol + rtol |r| (NaN never passes).
function compare(name, a, r, atol, rtol) {
  let num = 0, den = 0, worst = 0, worstI = -1, ok = true;
  for (let i = 0; i < r.length; i++) {
    const d = Math.abs(a[i] - r[i]);
    num += d * d;
    den += r[i] * r[i];
    const excess = d - (atol + rtol * Math.abs(r[i]));
    if (!(excess <= 0)) {
      ok = false;
      if (!(excess <= worst)) { worst = excess; worstI = i; }
    }
  }
  const rel = Math.sqrt(num / Math.max(den, 1e-300));
  const line = `${ok ? 'ok  ' : 'FAIL'} ${name}: rel err ${rel.toExponential(2)}${ok ? '' : `, worst element ${worstI}: ${a[worstI]} vs ${r[worstI]}`}`;
  console.log(line);
  results.checks.push({ name, ok, rel });
  if (!ok) failures++;
}

function refSelective(x, ld, ids, N, V, T) {
  const lp = new Float64Array(N), lse = new Float64Array(N), ent = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const o = n * ld;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, x[o + v] / T);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(x[o + v] / T - m);
    lse[n] = m + Math.log(s);
    lp[n] = x[o + ids[n]] / T - lse[n];
    let h = 0;
    for (let v = 0; v < V; v++) { const l = x[o + v] / T - lse[n]; h -= Math.exp(l) * l; }
    ent[n] = h;
  }
  return { lp, lse, ent };
}

// ---- selective log-softmax ------------------------------------------------------------------------------
function checkSelective(N, V, T, dtype, withEnt, ld = V, inplace = false) {
  const name = `selective N=${N} V=${V} ld=${ld} T=${T} ${dtype}${withEnt ? ' +entropy' : ''}${inplace ? ' in-place' : ''}`;
  const bf = dtype === 'bfloat16';
  const total = (N - 1) * ld + V;
  const x = new Float32Array(total);
  for (let i = 0; i < total; i++) x[i] = bf ? bf16Round(randn() * 3) : Math.fround(randn() * 3);
  const ids = Int32Array.from({ length: N }, () => Math.floor(rnd() * V));
  const X = buf(x, bf ? 2 : 0), I = buf(ids), LP = poison(N), LSE = poison(N), ENT = withEnt ? poison(N) : null;
  cuda.selectiveLogSoftmax(X, 0, ld, I, N, V, T, LP, LSE, ENT);
  const ref = refSelective(x, ld, ids, N, V, T);
  compare(`${name}: lp`, down(LP, N), ref.lp, 1e-5, 1e-5);
  compare(`${name}: lse`, down(LSE, N), ref.lse, 1e-5, 1e-5);
  if (withEnt) compare(`${name}: entropy`, down(ENT, N), ref.ent, 2e-5, 2e-5);
  const g = Float32Array.from({ length: N }, () => randn()), gh = Float32Array.from({ length: N }, () => randn());
  g[0] = 0;  // a padding row: zero gradient
  if (withEnt) gh[0] = 0;
  const G = buf(g), GH = withEnt ? buf(gh) : null;
  const D = inplace ? X : buf(new Float32Array(total).fill(NaN), bf ? 2 : 0);
  cuda.selectiveLogSoftmaxBackward(D, 0, ld, X, 0, ld, I, LSE, G, GH, ENT, N, V, T);
  const d = new Float32Array(total);
  cuda.download(D, 0, d);
  const rd = new Float64Array(N * V), dd = new Float32Array(N * V);
  for (let n = 0; n < N; n++)
    for (let v = 0; v < V; v++) {
      const z = x[n * ld + v] / T, p = Math.exp(z - ref.lse[n]);
      let r = (g[n] * ((v === ids[n] ? 1 : 0) - p)) / T;
      if (withEnt) r -= (gh[n] * p * (z - ref.lse[n] + ref.ent[n])) / T;
      rd[n * V + v] = r;
      dd[n * V + v] = d[n * ld + v];
    }
  // bf16 gradients carry 8 bits of mantissa: 2^-8 relative.
  compare(`${name}: dlogits`, dd, rd, bf ? 1e-6 : 1e-7, bf ? 8e-3 : 2e-5);
  for (const id of [X, I, LP, LSE, ENT, G, GH, inplace ? null : D]) if (id) cuda.free(id);
}

const small = flags.has('--small');
const selectiveCases = small
  ? [[33, 64, 1, 'float32', true], [9, 5000, 0.7, 'bfloat16', true], [5, 3, 1, 'float32', true], [7, 1001, 1, 'float32', false, 1005]]
  : [[257, 64, 1, 'float32', true], [100, 1000, 0.7, 'float32', true], [64, 4099, 1.3, 'float32', true],
    [64, 32000, 1, 'float32', false], [64, 32000, 1, 'bfloat16', true], [300, 64, 1, 'bfloat16', false],
    [17, 3, 1, 'float32', true], [33, 5000, 1, 'float32', true, 5004], [40, 2048, 1, 'bfloat16', false, 2056],
    [31, 1025, 0.9, 'float32', false, 1025]];
// A check that throws (a failed launch, a bad argument) is one failure; the remaining checks still run.
function attempt(name, check) {
  try {
    check();
  } catch (e) {
    console.log(`FAIL ${name}: threw ${e.message}`);
    results.checks.push({ name, ok: false, error: e.message });
    failures++;
  }
}
for (const [N, V, T, dt, ent, ld] of selectiveCases)
  attempt(`selective N=${N} V=${V} ${dt}`, () => checkSelective(N, V, T, dt, ent, ld ?? V));
attempt('selective in place float32', () => checkSelective(50, 32000, 1, 'float32', false, 32000, true));
attempt('selective in place bfloat16', () => checkSelective(50, 32000, 1, 'bfloat16', false, 32000, true));

// bad inputs on the device: an id out of range and a NaN row are reported, the process lives
{
  const X = buf(Float32Array.from([1, 2, 3, NaN, 5, 6])), LP = poison(2), LSE = poison(2);
  for (const [ids, want] of [[[0, 1], /row 1 holds NaN or Inf/], [[0, 3], /ids\[1\] = 3 is out of range/]]) {
    const I = buf(Int32Array.from(ids));
    let msg = 'no error';
    try { cuda.selectiveLogSoftmax(X, 0, 3, I, 2, 3, 1, LP, LSE, null); } catch (e) { msg = e.message; }
    const ok = want.test(msg);
    console.log(`${ok ? 'ok  ' : 'FAIL'} bad input reported: ${msg}`);
    results.checks.push({ name: `bad input ${want}`, ok });
    if (!ok) failures++;
    cuda.free(I);
  }
  [X, LP, LSE].forEach((id) => cuda.free(id));
}

// ---- policy loss ---------------------------------------------------------------------------------------
function refLoss(lp, old, ref, adv, perToken, mask, B, L, c) {
  const clamp = (x, lo, hi) => Math.min(Math.max(x, lo), hi);
  let total = 0;
  const seqTok = new Float64Array(B), seqLr = new Float64Array(B), perSeq = new Float64Array(B);
  for (let s = 0; s < B; s++)
    for (let t = 0; t < L; t++) { const k = s * L + t; seqTok[s] += mask[k]; seqLr[s] += mask[k] * (lp[k] - old[k]); total += mask[k]; }
  let low = 0, high = 0, kl = 0, ratio = 0;
  for (let s = 0; s < B; s++)
    for (let t = 0; t < L; t++) {
      const k = s * L + t, a = perToken ? adv[k] : adv[s];
      const lr = c.importanceSampling === 'sequence' ? seqLr[s] / Math.max(seqTok[s], 1) : lp[k] - old[k];
      const r = Math.exp(clamp(lr, -20, 20));
      let l = -Math.min(r * a, clamp(r, 1 - c.epsLow, 1 + c.epsHigh) * a);
      const kv = c.beta > 0 ? Math.exp(ref[k] - lp[k]) - (ref[k] - lp[k]) - 1 : 0;
      l += c.beta * kv;
      perSeq[s] += mask[k] * l;
      low += mask[k] * (r < 1 - c.epsLow && a < 0 ? 1 : 0);
      high += mask[k] * (r > 1 + c.epsHigh && a > 0 ? 1 : 0);
      kl += mask[k] * kv;
      ratio += mask[k] * r;
    }
  let loss = 0;
  if (c.lossType === 'grpo') { for (let s = 0; s < B; s++) loss += perSeq[s] / Math.max(seqTok[s], 1); loss /= B; }
  else {
    const sum = perSeq.reduce((p, q) => p + q, 0);
    loss = c.lossType === 'bnpo' ? sum / Math.max(total, 1) : c.lossType === 'dr_grpo' ? sum / (B * (c.maxCompletionLength || L))
      : sum / (c.normalizer || Math.max(total, 1));
  }
  return { loss, clipLow: low / total, clipHigh: high / total, clipRegion: (low + high) / total, kl: kl / total, ratio: ratio / total };
}

{
  const B = 64, L = 64, n = B * L;
  const lp = Float32Array.from({ length: n }, () => -Math.abs(randn()) * 0.5 - 0.1);
  const old = lp.map((v) => v + 0.3 * randn()), ref = lp.map((v) => v + 0.3 * randn());
  const mask = new Float32Array(n);
  for (let s = 0; s < B; s++) { const len = 1 + Math.floor(rnd() * L); for (let t = 0; t < len; t++) mask[s * L + t] = 1; }
  const advSeq = Float32Array.from({ length: B }, () => randn()), advTok = Float32Array.from({ length: n }, () => randn());
  const ids = { lp: buf(lp), old: buf(old), ref: buf(ref), mask: buf(mask), advSeq: buf(advSeq), advTok: buf(advTok) };
  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'])
    for (const importanceSampling of ['token', 'sequence'])
      for (const beta of [0, 0.04]) {
        const perToken = lossType === 'bnpo';
        const c = { lossType, importanceSampling, beta, epsLow: 0.2, epsHigh: lossType === 'dapo' ? 0.28 : 0.2,
          normalizer: lossType === 'dapo' ? 3000 : 0, maxCompletionLength: lossType === 'dr_grpo' ? 80 : 0 };
        const adv = perToken ? advTok : advSeq;
        const name = `grpoLoss ${lossType} ${importanceSampling} beta=${beta}`;
        attempt(name, () => {
          const DLP = poison(n);
          const r = cuda.grpoLoss(ids.lp, ids.old, ids.ref, perToken ? ids.advTok : ids.advSeq, perToken, ids.mask, null, DLP, B, L, c);
          const e = refLoss(lp, old, ref, adv, perToken, mask, B, L, c);
          compare(`${name}: loss+metrics`, [r.loss, r.clipLow, r.clipHigh, r.clipRegion, r.kl, r.ratio],
            [e.loss, e.clipLow, e.clipHigh, e.clipRegion, e.kl, e.ratio], 1e-6, 1e-5);
          // d loss / d lp by central differences of the float64 reference on 64 random tokens
          const dlp = down(DLP, n);
          const picks = Array.from({ length: 64 }, () => Math.floor(rnd() * n));
          const num = picks.map((k) => {
            const h = 1e-4, a = Float64Array.from(lp), b = Float64Array.from(lp);
            a[k] += h; b[k] -= h;
            return (refLoss(a, old, ref, adv, perToken, mask, B, L, c).loss - refLoss(b, old, ref, adv, perToken, mask, B, L, c).loss) / (2 * h);
          });
          compare(`${name}: dlp`, picks.map((k) => dlp[k]), num, 1e-7, 1e-3);
          let allWritten = true;
          for (let k = 0; k < n; k++) if (Number.isNaN(dlp[k])) allWritten = false;
          if (!allWritten) console.log(`FAIL ${name}: dlp has unwritten (NaN) elements`);
          results.checks.push({ name: `${name}: dlp fully written`, ok: allWritten });
          if (!allWritten) failures++;
          cuda.free(DLP);
        });
      }
  Object.values(ids).forEach((id) => cuda.free(id));
}

// ---- group advantages (host rewards in, device advantages out) ----------------------------------------
function refAdvantages(rewards, weights, N, R, G, scale) {
  const total = Float64Array.from({ length: N }, (_, i) => {
    let s = 0;
    for (let j = 0; j < R; j++) if (!Number.isNaN(rewards[i * R + j])) s += weights[j] * rewards[i * R + j];
    return Math.fround(s);
  });
  const mean = total.reduce((a, b) => a + b, 0) / N;
  const batchStd = Math.sqrt(total.reduce((a, t) => a + (t - mean) ** 2, 0) / (N - 1));
  const adv = new Float64Array(N);
  let zero = 0;
  for (let g0 = 0; g0 < N; g0 += G) {
    const grp = total.subarray(g0, g0 + G);
    const m = grp.reduce((a, b) => a + b, 0) / G;
    const sd = Math.sqrt(grp.reduce((a, t) => a + (t - m) ** 2, 0) / (G - 1));
    if (sd <= 1e-8) zero++;
    for (let i = g0; i < g0 + G; i++) adv[i] = scale === 'none' ? total[i] - m : (total[i] - m) / ((scale === 'group' ? sd : batchStd) + 1e-4);
  }
  return { total, adv, mean, batchStd, zero };
}
{
  const G = 8, N = 64 * G, R = 3;
  const rewards = Float32Array.from({ length: N * R }, (_, k) => (k % 7 === 3 ? NaN : randn()));
  for (let k = 5 * G * R; k < 6 * G * R; k++) rewards[k] = k % R === 1 ? NaN : 0.5;  // a group with equal rewards
  const weights = Float32Array.from([1, 0.1, 2]);
  for (const scale of ['group', 'batch', 'none'])
    attempt(`groupAdvantages ${scale}`, () => {
      const ADV = poison(N), TOT = poison(N);
      const st = cuda.groupAdvantages(rewards, weights, N, R, G, scale, ADV, TOT);
      const ref = refAdvantages(rewards, weights, N, R, G, scale);
      compare(`groupAdvantages ${scale}: totals`, down(TOT, N), ref.total, 0, 0);
      compare(`groupAdvantages ${scale}: advantages`, down(ADV, N), ref.adv, 1e-6, 1e-6);
      compare(`groupAdvantages ${scale}: mean, std, zero-std groups`, [st.mean, st.std, st.zeroStdGroups],
        [ref.mean, ref.batchStd, ref.zero], 1e-9, 1e-9);
      [ADV, TOT].forEach((id) => cuda.free(id));
    });
}

console.log(`\ncorrectness: ${results.checks.length - failures} passed, ${failures} failed`);
if (flags.has('--check-only')) {
  writeFileSync(join(outDir, 'gpu-grpo-check.json'), JSON.stringify(results, null, 1));
  process.exit(failures ? 1 : 0);
}

// ---- W3 timings (CUDA events; medians of 50 after warm-up) ---------------------------------------------
const benchSmall = flags.has('--bench-small');
const benchCases = benchSmall ? [[64, 64, 'float32'], [16, 4096, 'bfloat16']]
  : [[4096, 64, 'float32'], [4096, 32000, 'float32'], [4096, 64, 'bfloat16'], [4096, 32000, 'bfloat16'], [8192, 151936, 'bfloat16']];
// Random logits: one 16 Mi-float random block tiled over the buffer (filling GBs in JS would take minutes);
// every buffer is far larger than the 60 MB L2, so the repetition cannot be served from cache.
const tile = new Float32Array(1 << 24);
for (let i = 0; i < tile.length; i++) tile[i] = randn() * 2;
for (const [N, V, dt] of benchCases) {
  const bf = dt === 'bfloat16';
  const s = bf ? 2 : 4;
  const X = cuda.alloc(N * V, bf ? 2 : 0);
  for (let off = 0; off < N * V; off += tile.length) cuda.upload(X, off, tile.subarray(0, Math.min(tile.length, N * V - off)));
  const I = buf(Int32Array.from({ length: N }, () => Math.floor(rnd() * V)));
  const LP = poison(N), LSE = poison(N), G = buf(new Float32Array(N).fill(1e-3));
  const D = cuda.alloc(N * V, bf ? 2 : 0);
  const reps = benchSmall ? 3 : 50;
  const t = cuda.benchSelective(X, I, LP, LSE, G, D, N, V, 1, reps);
  const tIn = cuda.benchSelective(X, I, LP, LSE, G, X, N, V, 1, reps);  // gradient over the logits
  const bytes = 3 * N * V * s;  // fused minimum: read in forward, read + write in backward
  const row = { N, V, dtype: dt, fwdMs: t.fwdMs, bwdMs: t.bwdMs, fwdBwdMs: t.fwdBwdMs, inplaceFwdBwdMs: tIn.fwdBwdMs,
    GBs: bytes / (t.fwdBwdMs / 1e3) / 1e9, fwdGBs: (N * V * s) / (t.fwdMs / 1e3) / 1e9 };
  results.bench.push(row);
  console.log(`bench ${dt} N=${N} V=${V}: fwd ${t.fwdMs.toFixed(4)} ms (${row.fwdGBs.toFixed(0)} GB/s), bwd ${t.bwdMs.toFixed(4)} ms, ` +
    `fwd+bwd ${t.fwdBwdMs.toFixed(4)} ms = ${row.GBs.toFixed(0)} GB/s (${((100 * row.GBs) / 4300).toFixed(0)}% of 4.3 TB/s); in place ${tIn.fwdBwdMs.toFixed(4)} ms`);
  [X, I, LP, LSE, G, D].forEach((id) => cuda.free(id));
}

// PyTorch on the same GPU (log_softmax + gather + the W3 loss, forward + backward, CUDA events)
for (const dt of benchSmall ? [] : ['float32', 'bfloat16']) {
  const r = spawnSync('python3', [join(here, 'torch', 'w3_grpo.py'), '1', 'cuda', dt], { encoding: 'utf8', timeout: 240_000 });
  if (r.status === 0) results.torch[dt] = JSON.parse(r.stdout.trim().split('\n').pop());
  else console.log(`PyTorch ${dt} failed: ${(r.stderr || r.error?.message || '').split('\n').slice(-3).join(' ')}`);
}

console.log('\n| W3 fwd+bwd | ours (ms) | PyTorch (ms) | ours vs PyTorch | ours GB/s | % of 4.3 TB/s | PyTorch peak extra |');
console.log('|---|---|---|---|---|---|---|');
for (const b of results.bench) {
  const tr = results.torch[b.dtype]?.[`V=${b.V}`];
  const theirs = b.N === 4096 && tr ? tr.fwd_bwd * 1e3 : null;
  console.log(`| ${b.dtype} N=${b.N} V=${b.V} | ${b.fwdBwdMs.toFixed(4)} | ${theirs === null ? '-' : theirs.toFixed(4)} | ` +
    `${theirs === null ? '-' : (theirs / b.fwdBwdMs).toFixed(1) + 'x'} | ${b.GBs.toFixed(0)} | ${((100 * b.GBs) / 4300).toFixed(0)}% | ` +
    `${tr && b.N === 4096 ? ((tr.peak_extra_bytes ?? 0) / 2 ** 20).toFixed(0) + ' MiB' : '-'} |`);
}
writeFileSync(join(outDir, 'gpu-grpo.json'), JSON.stringify(results, null, 1));
console.log(`\ncorrectness: ${results.checks.length - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
