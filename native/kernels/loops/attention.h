// Attention rows: the blocked path's masked softmax and its backward, and the decode path's streaming scores
// and weighted sums over the KV cache. A loops/ fragment (kernels/instantiate.h).

// Row softmax of scores s[first, n) in place, zeroing s[0, first) and s[n, width); returns the log-sum-exp.
float attention_softmax_row(float* s, int64_t first, int64_t n, int64_t width) {
  for (int64_t i = 0; i < first; ++i) s[i] = 0.0f;
  s += first;
  n -= first;
  width -= first;
  float m = math::lse_shift(lanes_max(s, n));
  float total = lanes_store_exp(s, s, n, m);
  float inv = 1.0f / total;
  for (int64_t i = 0; i < n; ++i) s[i] *= inv;
  for (int64_t i = n; i < width; ++i) s[i] = 0.0f;
  return m + math::fast_log(total);
}

// Backward row: p[first, n) = exp(s - lse), ds = p * (dp - di) in dp; both zero on [0, first) and [n, width).
void attention_grad_row(float* __restrict s, float* __restrict dp, int64_t first, int64_t n, int64_t width, float lse,
                        float di) {
  for (int64_t i = 0; i < first; ++i) {
    s[i] = 0.0f;
    dp[i] = 0.0f;
  }
  for (int64_t i = first; i < n; ++i) {
    float p = math::fast_exp(s[i] - lse);
    s[i] = p;
    dp[i] = p * (dp[i] - di);
  }
  for (int64_t i = n; i < width; ++i) {
    s[i] = 0.0f;
    dp[i] = 0.0f;
  }
}

float dot(const float* __restrict a, const float* __restrict b, int64_t n) { return lanes_dot(a, b, n); }

__attribute__((always_inline)) inline float widen(float x) { return x; }
__attribute__((always_inline)) inline float widen(uint16_t x) { return math::bf16_to_float(x); }

// o[0, D) = sum_j p[j] * V row j for j < n (rows ldv apart).
template <class T>
__attribute__((always_inline)) inline void weighted_rows_of(float* __restrict o, const float* __restrict p,
                                                            const T* __restrict v, int64_t ldv, int64_t n, int64_t D) {
  const int64_t ahead = prefetch_ahead_rows<T>(D);
  for (int64_t c = 0; c < D; ++c) o[c] = 0.0f;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {  // four rows per pass over o: fewer loads and stores of the accumulator
    const float p0 = p[j], p1 = p[j + 1], p2 = p[j + 2], p3 = p[j + 3];
    const T* v0 = v + j * ldv;
    const T* v1 = v0 + ldv;
    const T* v2 = v1 + ldv;
    const T* v3 = v2 + ldv;
    prefetch_rows(v0 + ahead * ldv, 4, ldv, D);
    for (int64_t c = 0; c < D; ++c)
      o[c] += p0 * widen(v0[c]) + p1 * widen(v1[c]) + p2 * widen(v2[c]) + p3 * widen(v3[c]);
  }
  for (; j < n; ++j) {
    const float pj = p[j];
    const T* vj = v + j * ldv;
    for (int64_t c = 0; c < D; ++c) o[c] += pj * widen(vj[c]);
  }
}

// s[j] = scale * q . K row j for j < n (rows ldk apart), prefetching row j of `next` (rows ldn apart) meanwhile.
// NOTE: `next` is the V rows that weighted_rows reads right after: fetched during this slower pass (a dot
// product and its reduction per row), they are in cache by then instead of streaming in behind a pass that
// reads them faster than DRAM delivers (float32 cache of 64 x 4 heads x 80 positions on Zen 4: 924 -> 837 us
// per layer, median; a pass that only sums K and V rows takes 863).
template <class T>
__attribute__((always_inline)) inline void score_rows_of(float* __restrict s, const float* __restrict q,
                                                         const T* __restrict k, int64_t ldk, int64_t n, int64_t D,
                                                         float scale, const T* next, int64_t ldn) {
  const int64_t ahead = prefetch_ahead_rows<T>(D);
  const int64_t Dv = D / kSimdLanes * kSimdLanes;
  for (int64_t j = 0; j < n; ++j) {
    const T* kj = k + j * ldk;
    prefetch_rows(kj + ahead * ldk, 1, ldk, D);
    prefetch_rows(next + j * ldn, 1, ldn, D);
    float acc[kSimdLanes] = {};
    for (int64_t c = 0; c < Dv; c += kSimdLanes)
      for (int l = 0; l < kSimdLanes; ++l) acc[l] += q[c + l] * widen(kj[c + l]);
    float t = 0.0f;
    for (int l = 0; l < kSimdLanes; ++l) t += acc[l];
    for (int64_t c = Dv; c < D; ++c) t += q[c] * widen(kj[c]);
    s[j] = scale * t;
  }
}

void weighted_rows(float* o, const float* p, const float* v, int64_t ldv, int64_t n, int64_t D) {
  weighted_rows_of(o, p, v, ldv, n, D);
}
void weighted_rows_bf16(float* o, const float* p, const uint16_t* v, int64_t ldv, int64_t n, int64_t D) {
  weighted_rows_of(o, p, v, ldv, n, D);
}
void score_rows(float* s, const float* q, const float* k, int64_t ldk, int64_t n, int64_t D, float scale,
                const float* next, int64_t ldn) {
  score_rows_of(s, q, k, ldk, n, D, scale, next, ldn);
}
void score_rows_bf16(float* s, const float* q, const uint16_t* k, int64_t ldk, int64_t n, int64_t D, float scale,
                     const uint16_t* next, int64_t ldn) {
  score_rows_of(s, q, k, ldk, n, D, scale, next, ldn);
}
