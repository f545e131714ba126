// Elementwise kernels: contiguous runs go through one vectorized loop per op (kernels/loops/elementwise.h, in
// the vector kernel set chosen at run time); strided runs are gathered into small per-thread tiles first and
// then take the same loops. The per-element formulas are math/elementwise.h's, which the CUDA kernels share.
#include "ops/elementwise.h"

#include <cmath>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"
#include "math/bf16.h"
#include "math/elementwise.h"

namespace tg {
namespace {

using namespace tg::math;

constexpr int64_t kTile = 1024;
constexpr int64_t kGrain = 1 << 15;

// Copies a strided row of n elements into a contiguous tile (or returns the row when already contiguous).
inline const float* gather_row(const float* src, int64_t stride, int64_t n, float* tile) {
  if (stride == 1) return src;
  for (int64_t i = 0; i < n; ++i) tile[i] = src[i * stride];
  return tile;
}

// Walks the outer dims of a coalesced layout in parallel; `row(out_offset, offsets, inner_begin, count)`
// handles up to kTile elements of the innermost dim.
template <int N, class Row>
void for_each_row(const StridedLayout<N>& layout, Row&& row) {
  const int64_t inner = layout.shape[layout.ndim - 1];
  int64_t outer = 1;
  for (int d = 0; d < layout.ndim - 1; ++d) outer *= layout.shape[d];
  int64_t grain = inner >= kGrain ? 1 : kGrain / inner;
  parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
    int64_t offsets[N];
    for (int64_t r = begin; r < end; ++r) {
      layout.outer_offsets(r, offsets);
      for (int64_t i0 = 0; i0 < inner; i0 += kTile) {
        int64_t count = inner - i0 < kTile ? inner - i0 : kTile;
        row(r * inner + i0, offsets, i0, count);
      }
    }
  });
}

template <int N>
bool all_contiguous(const StridedLayout<N>& layout) {
  if (layout.ndim > 1) return false;
  for (int k = 0; k < N; ++k)
    if (layout.ndim == 1 && layout.strides[k][0] != 1) return false;
  return true;
}

}  // namespace

void unary_f32(UnaryOp op, float* out, const float* x, StridedLayout<1> layout, float p0, float p1) {
  layout.coalesce();
  int64_t n = layout.numel();
  if (n == 0) return;
  const auto unary_run = vector_kernels().unary;
  if (layout.ndim == 0) {
    unary_run(op, out, x, 1, p0, p1);
    return;
  }
  if (all_contiguous(layout)) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { unary_run(op, out + b, x + b, e - b, p0, p1); });
    return;
  }
  const int64_t sx = layout.strides[0][layout.ndim - 1];
  for_each_row(layout, [&](int64_t out_off, const int64_t* offs, int64_t i0, int64_t count) {
    float tile[kTile];
    const float* row = gather_row(x + offs[0] + i0 * sx, sx, count, tile);
    unary_run(op, out + out_off, row, count, p0, p1);
  });
}

void binary_f32(BinaryOp op, float* out, const float* a, const float* b, StridedLayout<2> layout) {
  layout.coalesce();
  int64_t n = layout.numel();
  if (n == 0) return;
  const auto binary_run = vector_kernels().binary;
  if (layout.ndim == 0) {
    binary_run(op, out, a, 1, b, 1, 1);
    return;
  }
  const int last = layout.ndim - 1;
  const int64_t sa = layout.strides[0][last], sb = layout.strides[1][last];
  if (layout.ndim == 1 && (sa == 1 || sa == 0) && (sb == 1 || sb == 0) && (sa | sb)) {
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
      binary_run(op, out + s, a + s * sa, sa, b + s * sb, sb, e - s);
    });
    return;
  }
  for_each_row(layout, [&](int64_t out_off, const int64_t* offs, int64_t i0, int64_t count) {
    float tile_a[kTile], tile_b[kTile];
    const float* ra = a + offs[0] + i0 * sa;
    const float* rb = b + offs[1] + i0 * sb;
    int64_t step_a = 1, step_b = 1;
    if (sa == 0) step_a = 0;
    else ra = gather_row(ra, sa, count, tile_a);
    if (sb == 0) step_b = 0;
    else rb = gather_row(rb, sb, count, tile_b);
    if (step_a == 0 && step_b == 0) {
      float v;
      binary_run(op, &v, ra, 1, rb, 1, 1);
      for (int64_t i = 0; i < count; ++i) out[out_off + i] = v;
      return;
    }
    binary_run(op, out + out_off, ra, step_a, rb, step_b, count);
  });
}

void where_f32(float* out, const float* cond, const float* a, const float* b, StridedLayout<3> layout) {
  layout.coalesce();
  int64_t n = layout.numel();
  if (n == 0) return;
  if (layout.ndim == 0) {
    out[0] = cond[0] != 0.0f ? a[0] : b[0];
    return;
  }
  const int last = layout.ndim - 1;
  const int64_t sc = layout.strides[0][last], sa = layout.strides[1][last], sb = layout.strides[2][last];
  const auto where_run = vector_kernels().where;
  for_each_row(layout, [&](int64_t out_off, const int64_t* offs, int64_t i0, int64_t count) {
    float tc[kTile], ta[kTile], tb[kTile];
    auto row = [&](const float* base, int64_t off, int64_t s, float* tile) -> const float* {
      const float* p = base + off + i0 * s;
      if (s == 0) {
        for (int64_t i = 0; i < count; ++i) tile[i] = p[0];
        return tile;
      }
      return gather_row(p, s, count, tile);
    };
    where_run(out + out_off, row(cond, offs[0], sc, tc), row(a, offs[1], sa, ta), row(b, offs[2], sb, tb), count);
  });
}

namespace {

// One strided run of n elements: dst[od + i*sd] = convert(src[os + i*ss]). Conversions go through float32: int32
// -> float32 rounds to nearest, float32 -> int32 truncates toward zero (float_to_i32), float32 -> bfloat16 rounds
// to nearest even (math/bf16.h, shared with CUDA).
template <class D, class S, class F>
void copy_typed(void* dst, int64_t od, int64_t sd, const void* src, int64_t os, int64_t ss, int64_t n, F convert) {
  D* d = static_cast<D*>(dst) + od;
  const S* s = static_cast<const S*>(src) + os;
  if (sd == 1 && ss == 1) for (int64_t i = 0; i < n; ++i) d[i] = convert(s[i]);
  else for (int64_t i = 0; i < n; ++i) d[i * sd] = convert(s[i * ss]);
}

constexpr int pair(DType d, DType s) { return static_cast<int>(d) * kDTypeCount + static_cast<int>(s); }

void copy_run(void* dst, DType dt, int64_t od, int64_t sd, const void* src, DType st, int64_t os, int64_t ss, int64_t n) {
  if (dt == st) {
    const size_t size = dtype_size(dt);
    if (sd == 1 && ss == 1) {
      std::memcpy(static_cast<uint8_t*>(dst) + od * size, static_cast<const uint8_t*>(src) + os * size,
                  static_cast<size_t>(n) * size);
    } else if (size == 2) {
      copy_typed<uint16_t, uint16_t>(dst, od, sd, src, os, ss, n, [](uint16_t v) { return v; });
    } else {
      copy_typed<uint32_t, uint32_t>(dst, od, sd, src, os, ss, n, [](uint32_t v) { return v; });
    }
    return;
  }
  switch (pair(dt, st)) {
    case pair(DType::Float32, DType::Int32):
      return copy_typed<float, int32_t>(dst, od, sd, src, os, ss, n, [](int32_t v) { return static_cast<float>(v); });
    case pair(DType::Float32, DType::BFloat16):
      return copy_typed<float, uint16_t>(dst, od, sd, src, os, ss, n, [](uint16_t v) { return bf16_to_float(v); });
    case pair(DType::Int32, DType::Float32):
      return copy_typed<int32_t, float>(dst, od, sd, src, os, ss, n, [](float v) { return float_to_i32(v); });
    case pair(DType::Int32, DType::BFloat16):
      return copy_typed<int32_t, uint16_t>(dst, od, sd, src, os, ss, n,
                                           [](uint16_t v) { return float_to_i32(bf16_to_float(v)); });
    case pair(DType::BFloat16, DType::Float32):
      return copy_typed<uint16_t, float>(dst, od, sd, src, os, ss, n, [](float v) { return bf16_from_float(v); });
    default:  // bfloat16 <- int32
      return copy_typed<uint16_t, int32_t>(dst, od, sd, src, os, ss, n,
                                           [](int32_t v) { return bf16_from_float(static_cast<float>(v)); });
  }
}

}  // namespace

void copy_strided(void* dst, DType dst_dtype, const void* src, DType src_dtype, StridedLayout<2> layout) {
  layout.coalesce();
  if (layout.numel() == 0) return;
  if (layout.ndim == 0) {
    layout.ndim = 1;
    layout.shape[0] = 1;
    layout.strides[0][0] = layout.strides[1][0] = 1;
  }
  const int last = layout.ndim - 1;
  const int64_t sd = layout.strides[0][last], ss = layout.strides[1][last];
  const int64_t inner = layout.shape[last];
  int64_t outer = 1;
  for (int d = 0; d < last; ++d) outer *= layout.shape[d];
  // Long rows (a contiguous copy coalesces into one) are cut into pieces so every thread copies.
  constexpr int64_t kPiece = int64_t{1} << 16;
  const int64_t pieces = inner >= 2 * kPiece ? (inner + kPiece - 1) / kPiece : 1;
  const int64_t grain = pieces > 1 || inner >= kGrain ? 1 : kGrain / inner;
  parallel_for(outer * pieces, grain, [&](int64_t begin, int64_t end) {
    int64_t offs[2];
    for (int64_t t = begin; t < end; ++t) {
      layout.outer_offsets(t / pieces, offs);
      const int64_t i0 = (t % pieces) * kPiece;
      const int64_t n = pieces > 1 ? std::min(kPiece, inner - i0) : inner;
      const int64_t od = offs[0] + i0 * sd, os = offs[1] + i0 * ss;
      copy_run(dst, dst_dtype, od, sd, src, src_dtype, os, ss, n);
    }
  });
}

void swiglu_forward(float* h, const float* gate, const float* up, int64_t n) {
  const auto swiglu_run = vector_kernels().swiglu;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { swiglu_run(h + b, gate + b, up + b, e - b); });
}

void swiglu_backward(float* dgate, float* dup, const float* dh, const float* gate, const float* up, int64_t n) {
  const auto swiglu_grad_run = vector_kernels().swiglu_grad;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    swiglu_grad_run(dgate + b, dup + b, dh + b, gate + b, up + b, e - b);
  });
}

}  // namespace tg
