// Softmax-family rows and cross-entropy's gradient row: each row branch-free over 16 independent accumulator
// lanes, so GCC vectorizes the reductions without -ffast-math. A loops/ fragment (kernels/instantiate.h).

constexpr int64_t kSoftmaxChunk = 1024;  // 4 KiB of a row: stays in L1 between its max and exp-sum passes

// Max and sum of exp(x - max) of one row in a single pass over memory: chunks of the row stay in L1 while
// their max is found and their exp-sum taken, and the running sum is rescaled when the max grows.
math::LseState row_lse_state(const float* x, int64_t n) {
  math::LseState st{-__builtin_inff(), 0.0f};
  for (int64_t c = 0; c < n; c += kSoftmaxChunk) {
    int64_t len = n - c < kSoftmaxChunk ? n - c : kSoftmaxChunk;
    float cm = lanes_max(x + c, len);
    float cs = lanes_sum_exp(x + c, len, math::lse_shift(cm));
    st = math::lse_merge(st, cm, cs);
  }
  return st;
}

// NOTE: softmax takes one exp per element, not log-softmax's two passes over x with the exp-sum fused into the
// first: the row's max, then exp(x - max) stored with its sum, then a scale. exp is what softmax costs (a 4 KiB
// row is in L1 for all three passes): 256 x 1024, 1 thread (Zen 4), AVX2 218 -> 162 us, AVX-512 174 -> 147 us.
void softmax_rows(float* y, const float* x, int64_t r0, int64_t r1, int64_t cols, bool log) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    if (log) {
      // (x - m) - log(s): subtracting the max first keeps large logits exact.
      math::LseState st = row_lse_state(xr, cols);
      float m = math::lse_shift(st.m);
      float log_s = math::fast_log(st.s);
      for (int64_t i = 0; i < cols; ++i) yr[i] = (xr[i] - m) - log_s;
    } else {
      float inv_s = 1.0f / lanes_store_exp(yr, xr, cols, math::lse_shift(lanes_max(xr, cols)));
      for (int64_t i = 0; i < cols; ++i) yr[i] *= inv_s;
    }
  }
}

void softmax_grad_rows(float* dx, const float* dy, const float* y, int64_t r0, int64_t r1, int64_t cols, bool log) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    if (log) {
      float sum_dy = lanes_sum(dyr, cols);
      for (int64_t i = 0; i < cols; ++i) dxr[i] = math::log_softmax_grad(yr[i], dyr[i], sum_dy);
    } else {
      float dot = lanes_dot(dyr, yr, cols);
      for (int64_t i = 0; i < cols; ++i) dxr[i] = math::softmax_grad(yr[i], dyr[i], dot);
    }
  }
}

// Branch-free over j: the one-hot is subtracted after the loop.
void cross_entropy_grad_row(float* d, const float* x, float lse, float g, int64_t t, int64_t V) {
  if (t < 0) {
    for (int64_t j = 0; j < V; ++j) d[j] = 0.0f;
    return;
  }
  for (int64_t j = 0; j < V; ++j) d[j] = g * math::fast_exp(x[j] - lse);
  d[t] -= g;
}
