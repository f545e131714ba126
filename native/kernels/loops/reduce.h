// Row reductions in 16 partial lanes (a fixed order the compiler can vectorize) and one row into a column
// reduction. A loops/ fragment (kernels/instantiate.h).

float row_sum(const float* __restrict x, int64_t n) { return lanes_sum(x, n); }

// Max (min when !want_max) with NaN propagation: a NaN anywhere makes the result NaN. The running extreme takes
// a > acc ? a : acc, one vmaxps (vminps) on the accumulator's chain; a NaN never wins that comparison, so NaN
// lanes are noted in a mask of their own, off the chain. (A compare, or and select per step on the chain made
// the loop latency-bound: AVX2 23.2 us, AVX-512 30.8 us over 256Ki floats on one Zen 4 core.) NOTE: GCC 12
// leaves such a loop over float arrays scalar (16x slower than a sum); on vector types it vectorizes.
float row_max(const float* __restrict x, int64_t n, bool want_max) {
  const float init = want_max ? -__builtin_inff() : __builtin_inff();
  Vec8 acc0 = Vec8{} + init, acc1 = acc0;
  auto nan0 = acc0 != acc0, nan1 = nan0;  // lane masks, all false
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Vec8 a0, a1;
    std::memcpy(&a0, x + i, sizeof a0);
    std::memcpy(&a1, x + i + 8, sizeof a1);
    if (want_max) {
      acc0 = a0 > acc0 ? a0 : acc0;
      acc1 = a1 > acc1 ? a1 : acc1;
    } else {
      acc0 = a0 < acc0 ? a0 : acc0;
      acc1 = a1 < acc1 ? a1 : acc1;
    }
    nan0 |= a0 != a0;
    nan1 |= a1 != a1;
  }
  float lanes[16];
  std::memcpy(lanes, &acc0, sizeof acc0);
  std::memcpy(lanes + 8, &acc1, sizeof acc1);
  float m = init;
  auto take = [&](float v) {
    const bool better = want_max ? v > m : v < m;
    m = (better || v != v) ? v : m;
  };
  for (float v : lanes) take(v);
  for (; i < n; ++i) take(x[i]);
  const auto nan = nan0 | nan1;
  int32_t nan_lanes[8];
  std::memcpy(nan_lanes, &nan, sizeof nan_lanes);
  bool any_nan = m != m;
  for (int32_t lane : nan_lanes) any_nan |= lane != 0;
  return any_nan ? __builtin_nanf("") : m;
}

float row_sum_exp(const float* __restrict x, int64_t n, float shift) { return lanes_sum_exp(x, n, shift); }

void col_accumulate(ReduceOp op, float* __restrict out, const float* __restrict row, int64_t n) {
  if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
    for (int64_t i = 0; i < n; ++i) out[i] += row[i];
  } else if (op == ReduceOp::Max) {
    for (int64_t i = 0; i < n; ++i) out[i] = (row[i] > out[i] || row[i] != row[i]) ? row[i] : out[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = (row[i] < out[i] || row[i] != row[i]) ? row[i] : out[i];
  }
}
