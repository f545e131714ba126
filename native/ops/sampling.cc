// CPU sampling in float64: each step is src/generate/sampling.ts's samplingDistribution and sampleIndex written in
// C++ (the same exps, normalizations, comparisons and partial selection), so the tokens are the host path's up to
// libm's last bit of exp. Rows go to the pool; each thread keeps three V-long scratch arrays.
#include "ops/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "math/sampling.h"

namespace tg {
namespace {

void normalize(double* p, int64_t V) {
  double s = 0;
  for (int64_t i = 0; i < V; i++) s += p[i];
  for (int64_t i = 0; i < V; i++) p[i] /= s;
}

// The smallest probability top-p keeps (topPThreshold in sampling.ts): walking down from the most likely token,
// tokens are kept while the mass before them is < top_p. A three-way partition around a median-of-three pivot
// keeps only the side holding the threshold (expected O(V)); `a` is V doubles of scratch.
double top_p_threshold(const double* p, int64_t V, double top_p, double* a) {
  int64_t n = 0;
  bool has_zero = false;
  for (int64_t i = 0; i < V; i++) {
    if (p[i] > 0) a[n++] = p[i];
    else has_zero = true;
  }
  int64_t lo = 0, hi = n;
  double need = top_p;
  while (lo < hi) {
    const double x = a[lo], y = a[(lo + hi) >> 1], z = a[hi - 1];
    const double pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    int64_t gt = lo, i = lo, lt = hi;
    double above = 0, equal = 0;
    while (i < lt) {
      const double v = a[i];
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
      hi = gt;
    } else if (above + equal >= need) {
      return pivot;
    } else {
      need -= above + equal;
      lo = lt;
    }
  }
  // The mass never reached top_p within rounding: every positive token is kept.
  if (has_zero || n == 0) return 0;
  return *std::min_element(a, a + n);
}

struct RowResult {
  int32_t id;
  float logprob, policy_logprob;
};

// p, e, scratch: V doubles each (e keeps exp(z) for the kept mass after p is normalized).
RowResult sample_row(const float* x, int64_t V, double u, const SamplingParams& o, double* p, double* e, double* scratch) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double m = -std::numeric_limits<double>::infinity();
  bool bad = false;
  for (int64_t i = 0; i < V; i++) {
    bad |= math::sampling_bad_logit(x[i]);
    m = x[i] > m ? x[i] : m;
  }
  if (bad || std::isinf(m)) return {-1, static_cast<float>(nan), static_cast<float>(nan)};
  if (o.greedy) {
    int64_t tok = 0;
    while (x[tok] != m) tok++;
    const double inv_t = math::sampling_policy_inv_temperature(o.temperature);
    double s = 0;
    for (int64_t i = 0; i < V; i++) s += std::exp(math::sampling_tempered(x[i] - m, inv_t));
    const double z = math::sampling_tempered(x[tok] - m, inv_t);
    return {static_cast<int32_t>(tok), 0.0f, static_cast<float>(math::sampling_logprob(z, std::log(s)))};
  }
  const double inv_t = 1 / o.temperature;
  double total = 0;
  for (int64_t i = 0; i < V; i++) {
    e[i] = std::exp(math::sampling_tempered(x[i] - m, inv_t));
    p[i] = e[i];
    total += e[i];
  }
  // p[i] / total, as sampling.ts's normalize (its sum is `total`: the same terms in the same order).
  for (int64_t i = 0; i < V; i++) p[i] /= total;
  if (o.top_k > 0 && o.top_k < V) {
    std::copy(p, p + V, scratch);
    std::nth_element(scratch, scratch + (V - o.top_k), scratch + V);
    const double kth = scratch[V - o.top_k];
    for (int64_t i = 0; i < V; i++) p[i] = p[i] < kth ? 0 : p[i];
    normalize(p, V);
  }
  if (o.top_p < 1) {
    const double threshold = top_p_threshold(p, V, o.top_p, scratch);
    for (int64_t i = 0; i < V; i++) p[i] = p[i] < threshold ? 0 : p[i];
    normalize(p, V);
  }
  if (o.min_p > 0) {
    double top = 0;
    for (int64_t i = 0; i < V; i++) top = p[i] > top ? p[i] : top;
    const double cut = o.min_p * top;
    for (int64_t i = 0; i < V; i++) p[i] = p[i] < cut ? 0 : p[i];
    normalize(p, V);
  }
  // Inverse CDF in token order (sampleIndex): the first token whose cumulative probability exceeds u; the last
  // kept one when u is within rounding of 1.
  int64_t tok = -1;
  double acc = 0;
  for (int64_t i = 0; i < V; i++) {
    if (p[i] == 0) continue;
    acc += p[i];
    tok = i;
    if (u < acc) break;
  }
  // The kept mass in the order `total` was summed, so that with nothing removed it is `total` itself and the
  // sampling log-prob equals the policy log-prob bit for bit.
  double kept = 0;
  for (int64_t i = 0; i < V; i++) kept += p[i] == 0 ? 0.0 : e[i];
  const double z = math::sampling_tempered(x[tok] - m, inv_t);
  return {static_cast<int32_t>(tok), static_cast<float>(math::sampling_logprob(z, std::log(kept))),
          static_cast<float>(math::sampling_logprob(z, std::log(total)))};
}

}  // namespace

void sample_rows(int32_t* ids, float* logprobs, float* policy_logprobs, const float* logits, int64_t rows, int64_t V,
                 int64_t ld, const float* uniforms, const SamplingParams& params) {
  // A row costs ~28 ns an element (a double exp, the top-p partition, the passes; 64 x 64 logits take 115 us on
  // Zen 4): tasks of at least 2K elements (~60 us), so a decode step's small vocabulary splits across threads.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 11) / V);
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    // Kept per thread across calls: a fresh 3 x V doubles per task (3.6 MB at V = 151,936) would be mapped and
    // faulted in anew at every decode step.
    thread_local std::vector<double> p, e, scratch;
    if (!params.greedy && static_cast<int64_t>(p.size()) < V) {
      p.resize(V);
      e.resize(V);
      scratch.resize(V);
    }
    for (int64_t r = begin; r < end; r++) {
      const RowResult res = sample_row(logits + r * ld, V, params.greedy ? 0.0 : static_cast<double>(uniforms[r]), params,
                                       p.data(), e.data(), scratch.data());
      ids[r] = res.id;
      logprobs[r] = res.logprob;
      policy_logprobs[r] = res.policy_logprob;
    }
  });
}

}  // namespace tg
