// The sampling distribution of one logits row, in float64 on the host: temperature, then top-k, top-p and
// min-p in Hugging Face's order (each on the distribution left by the previous one), and inverse-CDF draws. The
// reference of the native samplers generate() runs (native/ops/sampling.cc is this in C++; cuda/sampling.cu).

export interface SamplingOptions {
  /** Divides the logits; 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (ties with the k-th are kept, as in Hugging Face); 0 = off. Default 0. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose mass reaches topP (a token is kept when the mass of
   * the more likely tokens before it is < topP; tokens tied with the last kept one are kept too); 1 = off.
   * Default 1. */
  topP?: number;
  /** Keep tokens with probability >= minP * (the top probability); 0 = off. Default 0. */
  minP?: number;
  /** Take the most likely token (first on ties). Default false (also implied by temperature 0). */
  greedy?: boolean;
}

/** @internal Validated sampling options with defaults filled in. */
export interface ResolvedSampling {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  greedy: boolean;
}

export function resolveSampling(o: SamplingOptions, op = 'generate'): ResolvedSampling {
  const temperature = o.temperature ?? 1;
  const topK = o.topK ?? 0;
  const topP = o.topP ?? 1;
  const minP = o.minP ?? 0;
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw new RangeError(`${op}: temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`${op}: topK must be an integer >= 0 (0 = off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`${op}: topP must be in (0, 1], got ${topP}`);
  if (!(minP >= 0 && minP <= 1)) throw new RangeError(`${op}: minP must be in [0, 1], got ${minP}`);
  return { temperature, topK, topP, minP, greedy: (o.greedy ?? false) || temperature === 0 };
}

function normalize(p: Float64Array): void {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i];
  for (let i = 0; i < p.length; i++) p[i] /= s;
}

/**
 * The smallest probability top-p keeps: walking down from the most likely token, tokens are kept while the
 * mass before them is < topP. Found by partial selection (expected O(V), no full sort): a three-way
 * partition around a pivot keeps only the side that holds the threshold, with the mass above it counted.
 * NOTE: masses are summed in partition order, not sorted order, so a cumulative mass within rounding
 * (~1e-16) of topP may fall on the other side than a sorted walk would put it.
 */
export function topPThreshold(p: Float64Array, topP: number, scratch: Float64Array): number {
  const a = scratch;
  let n = 0;
  let smallest = Infinity;
  for (let i = 0; i < p.length; i++) {
    if (p[i] > 0) a[n++] = p[i];
    else smallest = 0; // zero-probability tokens are kept only when everything is (walk never ends early)
  }
  let lo = 0, hi = n; // the threshold is in a[lo, hi) unless the mass runs out
  let need = topP; // mass still to reach before the threshold
  while (lo < hi) {
    // median of three as the pivot
    const x = a[lo], y = a[(lo + hi) >> 1], z = a[hi - 1];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    // three-way partition of [lo, hi): > pivot | == pivot | < pivot
    let gt = lo, i = lo, lt = hi;
    let above = 0, equal = 0;
    while (i < lt) {
      const v = a[i];
      if (v > pivot) {
        a[i] = a[gt];
        a[gt++] = v;
        above += v;
        i++;
      } else if (v < pivot) {
        a[i] = a[--lt];
        a[lt] = v;
      } else {
        equal += v;
        i++;
      }
    }
    if (above >= need) {
      hi = gt; // the walk stops among the larger ones
    } else if (above + equal >= need) {
      return pivot; // it stops on a token equal to the pivot
    } else {
      need -= above + equal;
      lo = lt; // continue below the pivot
    }
  }
  // Every positive token is kept (the mass never reached topP within rounding): the smallest one is the threshold.
  if (smallest === 0 || n === 0) return 0;
  let m = Infinity;
  for (let i = 0; i < n; i++) if (a[i] < m) m = a[i];
  return m;
}

/**
 * Probabilities (zero for removed tokens, summing to 1) that sampling draws from for one logits row.
 * `out` (length V) is reused when given; `scratch` too (selection buffer).
 */
export function samplingDistribution(logits: ArrayLike<number>, o: ResolvedSampling, out?: Float64Array, scratch?: Float64Array): Float64Array {
  const V = logits.length;
  const p = out ?? new Float64Array(V);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  if (o.greedy) {
    p.fill(0);
    for (let i = 0; i < V; i++) {
      if (logits[i] === max) {
        p[i] = 1;
        break;
      }
    }
    return p;
  }
  const invT = 1 / o.temperature;
  for (let i = 0; i < V; i++) p[i] = Math.exp((logits[i] - max) * invT);
  normalize(p);
  const sorted = o.topK > 0 || o.topP < 1 ? (scratch ?? new Float64Array(V)) : null;
  if (o.topK > 0 && o.topK < V && sorted) {
    sorted.set(p);
    sorted.sort();
    const kth = sorted[V - o.topK];
    for (let i = 0; i < V; i++) if (p[i] < kth) p[i] = 0;
    normalize(p);
  }
  if (o.topP < 1 && sorted) {
    const threshold = topPThreshold(p, o.topP, sorted);
    for (let i = 0; i < V; i++) if (p[i] < threshold) p[i] = 0;
    normalize(p);
  }
  if (o.minP > 0) {
    let top = 0;
    for (let i = 0; i < V; i++) if (p[i] > top) top = p[i];
    const cut = o.minP * top;
    for (let i = 0; i < V; i++) if (p[i] < cut) p[i] = 0;
    normalize(p);
  }
  return p;
}

/** The token whose cumulative probability (in index order) first exceeds u in [0, 1). */
export function sampleIndex(p: Float64Array, u: number): number {
  let acc = 0;
  let last = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    acc += p[i];
    last = i;
    if (u < acc) return i;
  }
  return last; // u within rounding of 1
}

/** log softmax(logits / temperature)[token] in float64 (temperature 0 is read as 1). */
export function tokenLogprob(logits: ArrayLike<number>, token: number, temperature: number): number {
  const invT = temperature > 0 ? 1 / temperature : 1;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp((logits[i] - max) * invT);
  return (logits[token] - max) * invT - Math.log(s);
}
