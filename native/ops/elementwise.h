// Elementwise float32 kernels over strided inputs with NumPy broadcasting (stride 0) into a contiguous
// output, plus strided copy/cast. The op codes are part of the JS contract (src/backend/codes.ts,
// checked by tests/native-contract.test.ts).
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/strided.h"

namespace tg {

// Unary ops; p0 and p1 are the scalar parameters where an op has them.
enum class UnaryOp : int32_t {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Tanh, Sigmoid, Silu, Gelu, Relu, Sign, Square, Reciprocal,
  AddScalar,   // x + p0
  MulScalar,   // x * p0
  Affine,      // x * p0 + p1
  PowScalar,   // x ^ p0
  RdivScalar,  // p0 / x
  RpowScalar,  // p0 ^ x
  Clamp,       // min(max(x, p0), p1)
  EqScalar, NeScalar, LtScalar, LeScalar, GtScalar, GeScalar,  // 1.0 or 0.0
  IsNan, Log1p, Expm1, Sin, Cos,
  Count
};

// Binary ops. The *Backward ops take (x or y, dy) and return the input gradient.
enum class BinaryOp : int32_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,
  Eq, Ne, Lt, Le, Gt, Ge,
  SiluBackward,     // (x, dy) -> dy * silu'(x)
  GeluBackward,     // (x, dy) -> dy * gelu'(x)
  ReluBackward,     // (x, dy) -> x > 0 ? dy : 0
  SigmoidBackward,  // (y, dy) -> dy * y * (1 - y)
  TanhBackward,     // (y, dy) -> dy * (1 - y^2)
  Count
};

// out (contiguous, layout.numel()) = op(x); layout operands: 0 = x.
void unary_f32(UnaryOp op, float* out, const float* x, StridedLayout<1> layout, float p0, float p1);
// out = op(a, b); layout operands: 0 = a, 1 = b (broadcast dims have stride 0).
void binary_f32(BinaryOp op, float* out, const float* a, const float* b, StridedLayout<2> layout);
// out = cond != 0 ? a : b; layout operands: 0 = cond, 1 = a, 2 = b.
void where_f32(float* out, const float* cond, const float* a, const float* b, StridedLayout<3> layout);
// dst[view] = src[view] converted between float32 and int32 (truncation toward zero for float -> int).
// layout operands: 0 = dst, 1 = src.
void copy_strided(void* dst, DType dst_dtype, const void* src, DType src_dtype, StridedLayout<2> layout);

// SwiGLU over contiguous arrays of n elements: h = silu(gate) * up (h may be gate or up: in place).
void swiglu_forward(float* h, const float* gate, const float* up, int64_t n);
// dgate = dh * up * silu'(gate), dup = dh * silu(gate); dgate/dup may coincide with gate/up respectively.
void swiglu_backward(float* dgate, float* dup, const float* dh, const float* gate, const float* up, int64_t n);

}  // namespace tg
