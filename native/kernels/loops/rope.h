// RoPE of one (b, t) row. A loops/ fragment (kernels/instantiate.h).

// The pair loop is contiguous in i so it vectorizes; in place is safe: each pair is read before it is written.
void rope_row(float* y, const float* x, const float* c, const float* s, int64_t H, int64_t D, float sign) {
  const int64_t half = D / 2;
  for (int64_t h = 0; h < H; ++h) {
    const float* xh = x + h * D;
    float* yh = y + h * D;
    for (int64_t i = 0; i < half; ++i) {
      float y1, y2;
      math::rope_rotate(xh[i], xh[i + half], c[i], sign * s[i], y1, y2);
      yh[i] = y1;
      yh[i + half] = y2;
    }
  }
}
