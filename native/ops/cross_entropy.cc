// Cross-entropy CPU loops: rows in parallel, one pass over each row for its log-sum-exp (online max/sum) and
// one for the gradient (kernels/loops/softmax.h); targets are checked before anything is written.

#include "ops/cross_entropy.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"
#include "math/softmax.h"

namespace tg {
namespace {

using namespace tg::math;

int64_t first_bad_target(const int32_t* targets, int64_t N, int64_t V, int64_t ignore_index) {
  for (int64_t n = 0; n < N; ++n) {
    int64_t t = targets[n];
    if (t != ignore_index && (t < 0 || t >= V)) return n;
  }
  return -1;
}

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(cols, 1)); }

}  // namespace

CrossEntropyForwardStatus cross_entropy_forward(float* loss, float* lse, const float* logits, const int32_t* targets,
                                                int64_t N, int64_t V, int64_t ignore_index) {
  CrossEntropyForwardStatus status;
  status.bad_target = first_bad_target(targets, N, V, ignore_index);
  if (status.bad_target >= 0) return status;
  // Each chunk records its first non-finite row; the minimum over chunks is the answer.
  std::atomic<int64_t> first_nonfinite{N};
  const auto row_lse_state = vector_kernels().row_lse_state;
  parallel_for(N, row_grain(V), [&](int64_t r0, int64_t r1) {
    int64_t nonfinite = N;
    for (int64_t n = r0; n < r1; ++n) {
      const float* x = logits + n * V;
      LseState st = row_lse_state(x, V);
      float m = lse_shift(st.m), log_s = fast_log(st.s);
      lse[n] = m + log_s;
      int64_t t = targets[n];
      if (t == ignore_index) {
        loss[n] = 0.0f;
        continue;
      }
      // (m - x[t]) + log(s): the max is subtracted first so large logits keep their precision.
      loss[n] = (m - x[t]) + log_s;
      if (nonfinite == N && !(std::isfinite(lse[n]) && std::isfinite(loss[n]))) nonfinite = n;
    }
    int64_t cur = first_nonfinite.load();
    while (nonfinite < cur && !first_nonfinite.compare_exchange_weak(cur, nonfinite)) {
    }
  });
  int64_t first = first_nonfinite.load();
  status.nonfinite_row = first < N ? first : -1;
  return status;
}

int64_t cross_entropy_backward(float* dlogits, const float* g, const float* logits, const float* lse,
                               const int32_t* targets, int64_t N, int64_t V, int64_t ignore_index) {
  int64_t bad = first_bad_target(targets, N, V, ignore_index);
  if (bad >= 0) return bad;
  const auto grad_row = vector_kernels().cross_entropy_grad_row;
  parallel_for(N, row_grain(V), [&](int64_t r0, int64_t r1) {
    for (int64_t n = r0; n < r1; ++n) {
      int64_t t = targets[n] == ignore_index ? -1 : targets[n];
      grad_row(dlogits + n * V, logits + n * V, lse[n], g[n], t, V);
    }
  });
  return -1;
}

}  // namespace tg
