// Row reductions in 16 partial lanes (a fixed order the compiler can vectorize) and one row into a column
// reduction. A loops/ fragment (kernels/instantiate.h).

float row_sum(const float* __restrict x, int64_t n) { return lanes_sum(x, n); }

// Max (min when !want_max) with NaN propagation: a NaN anywhere makes the result NaN.
float row_max(const float* __restrict x, int64_t n, bool want_max) {
  float acc[kSimdLanes];
  const float init = want_max ? -__builtin_inff() : __builtin_inff();
  for (int l = 0; l < kSimdLanes; ++l) acc[l] = init;
  int nan_seen = 0;
  int64_t i = 0;
  if (want_max) {
    for (; i + kSimdLanes <= n; i += kSimdLanes)
      for (int l = 0; l < kSimdLanes; ++l) {
        float v = x[i + l];
        nan_seen |= v != v;
        acc[l] = v > acc[l] ? v : acc[l];
      }
  } else {
    for (; i + kSimdLanes <= n; i += kSimdLanes)
      for (int l = 0; l < kSimdLanes; ++l) {
        float v = x[i + l];
        nan_seen |= v != v;
        acc[l] = v < acc[l] ? v : acc[l];
      }
  }
  float m = init;
  for (int l = 0; l < kSimdLanes; ++l) m = want_max ? (acc[l] > m ? acc[l] : m) : (acc[l] < m ? acc[l] : m);
  for (; i < n; ++i) {
    float v = x[i];
    nan_seen |= v != v;
    m = want_max ? (v > m ? v : m) : (v < m ? v : m);
  }
  return nan_seen ? __builtin_nanf("") : m;
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
