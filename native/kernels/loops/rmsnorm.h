// RMSNorm rows, forward and backward. A loops/ fragment (kernels/instantiate.h).

// sum_i w_i dy_i x_i
__attribute__((always_inline)) inline float sum_wdyx(const float* w, const float* dy, const float* x, int64_t n) {
  float acc[kSimdLanes] = {};
  int64_t i = 0;
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) acc[j] += w[i + j] * dy[i + j] * x[i + j];
  float s = 0.0f;
  for (int j = 0; j < kSimdLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += w[i] * dy[i] * x[i];
  return s;
}

void rmsnorm_rows(float* y, float* rstd, const float* x, const float* w, int64_t r0, int64_t r1, int64_t cols,
                  float eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float rs = math::rmsnorm_rstd(lanes_dot(xr, xr, cols), cols, eps);
    rstd[r] = rs;
    for (int64_t i = 0; i < cols; ++i) yr[i] = math::rmsnorm_value(xr[i], rs, w[i]);
  }
}

// dx for rows [r0, r1) and this block's dw partial: part[i] = sum_r dy[r,i] * x[r,i] * rstd[r].
void rmsnorm_grad_rows(float* dx, float* __restrict part, const float* dy, const float* x, const float* w,
                       const float* rstd, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t i = 0; i < cols; ++i) part[i] = 0.0f;
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float rs = rstd[r];
    // c = mean(w dy xhat) = rstd * mean(w dy x)
    float c = rs * sum_wdyx(w, dyr, xr, cols) / static_cast<float>(cols);
    // part first: dx may alias dy.
    for (int64_t i = 0; i < cols; ++i) part[i] += dyr[i] * (xr[i] * rs);
    for (int64_t i = 0; i < cols; ++i) dxr[i] = math::rmsnorm_grad_x(xr[i], dyr[i], w[i], rs, c);
  }
}

void rmsnorm_reduce_blocks(float* __restrict dw, const float* __restrict part, int64_t blocks, int64_t c0, int64_t c1,
                           int64_t cols) {
  for (int64_t i = c0; i < c1; ++i) dw[i] = 0.0f;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t i = c0; i < c1; ++i) dw[i] += part[b * cols + i];
}
