// The AdamW update (math/adamw.h). A loops/ fragment (kernels/instantiate.h).

// One pass over the four arrays (memory bound).
void adamw(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
           const math::AdamWParams* a_ptr) {
  const math::AdamWParams a = *a_ptr;
  for (int64_t i = 0; i < n; ++i) math::adamw_update(p[i], g[i], m[i], v[i], a);
}
