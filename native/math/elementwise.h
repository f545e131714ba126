// Per-element formulas of the elementwise ops, shared by the CPU loops (native/ops/elementwise.cc) and the CUDA
// kernels (cuda/elementwise.cu): one definition of each op's math, selected at compile time, so both devices
// compute the same expression. sqrt and division are correctly rounded on both; the libm functions (pow, log1p,
// expm1, sin, cos) are glibc's on the CPU and CUDA's (within 1-4 ulp, CUDA C Programming Guide, "Mathematical
// Functions") on the GPU.
// NOTE: the op codes are the JS contract's (tg::UnaryOp / tg::BinaryOp, parsed from ops/elementwise.h by
// tests/native-contract.test.ts), so this header takes them from there instead of repeating them.
#pragma once
#include <cmath>

#include "math/activations.h"
#include "ops/elementwise.h"

namespace tg::math {

template <UnaryOp OP>
TG_HD float unary_apply(float v, float p0, float p1) {
  if constexpr (OP == UnaryOp::Neg) return -v;
  else if constexpr (OP == UnaryOp::Exp) return fast_exp(v);
  else if constexpr (OP == UnaryOp::Log) return fast_log(v);
  else if constexpr (OP == UnaryOp::Sqrt) return std::sqrt(v);
  else if constexpr (OP == UnaryOp::Rsqrt) return 1.0f / std::sqrt(v);
  else if constexpr (OP == UnaryOp::Abs) return std::fabs(v);
  else if constexpr (OP == UnaryOp::Tanh) return tanh_f(v);
  else if constexpr (OP == UnaryOp::Sigmoid) return sigmoid(v);
  else if constexpr (OP == UnaryOp::Silu) return silu(v);
  else if constexpr (OP == UnaryOp::Gelu) return gelu(v);
  else if constexpr (OP == UnaryOp::Relu) return relu(v);
  else if constexpr (OP == UnaryOp::Sign) return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v);  // keeps -0 and NaN
  else if constexpr (OP == UnaryOp::Square) return v * v;
  else if constexpr (OP == UnaryOp::Reciprocal) return 1.0f / v;
  else if constexpr (OP == UnaryOp::AddScalar) return v + p0;
  else if constexpr (OP == UnaryOp::MulScalar) return v * p0;
  else if constexpr (OP == UnaryOp::Affine) return v * p0 + p1;
  else if constexpr (OP == UnaryOp::PowScalar) return std::pow(v, p0);
  else if constexpr (OP == UnaryOp::RdivScalar) return p0 / v;
  else if constexpr (OP == UnaryOp::RpowScalar) return std::pow(p0, v);
  else if constexpr (OP == UnaryOp::Clamp) return v < p0 ? p0 : (v > p1 ? p1 : v);
  else if constexpr (OP == UnaryOp::EqScalar) return v == p0 ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::NeScalar) return v != p0 ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::LtScalar) return v < p0 ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::LeScalar) return v <= p0 ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::GtScalar) return v > p0 ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::GeScalar) return v >= p0 ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::IsNan) return v != v ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::Log1p) return std::log1p(v);
  else if constexpr (OP == UnaryOp::Expm1) return std::expm1(v);
  else if constexpr (OP == UnaryOp::Sin) return std::sin(v);
  else {
    static_assert(OP == UnaryOp::Cos, "every UnaryOp has a formula");
    return std::cos(v);
  }
}

// Backward ops take (x or y, dy): u is the forward's input (or output, for sigmoid and tanh), w the gradient.
template <BinaryOp OP>
TG_HD float binary_apply(float u, float w) {
  if constexpr (OP == BinaryOp::Add) return u + w;
  else if constexpr (OP == BinaryOp::Sub) return u - w;
  else if constexpr (OP == BinaryOp::Mul) return u * w;
  else if constexpr (OP == BinaryOp::Div) return u / w;
  else if constexpr (OP == BinaryOp::Pow) return std::pow(u, w);
  // torch.maximum/minimum propagate NaN from either side (u + w is NaN then).
  else if constexpr (OP == BinaryOp::Maximum) return (u != u || w != w) ? u + w : (u > w ? u : w);
  else if constexpr (OP == BinaryOp::Minimum) return (u != u || w != w) ? u + w : (u < w ? u : w);
  else if constexpr (OP == BinaryOp::Eq) return u == w ? 1.0f : 0.0f;
  else if constexpr (OP == BinaryOp::Ne) return u != w ? 1.0f : 0.0f;
  else if constexpr (OP == BinaryOp::Lt) return u < w ? 1.0f : 0.0f;
  else if constexpr (OP == BinaryOp::Le) return u <= w ? 1.0f : 0.0f;
  else if constexpr (OP == BinaryOp::Gt) return u > w ? 1.0f : 0.0f;
  else if constexpr (OP == BinaryOp::Ge) return u >= w ? 1.0f : 0.0f;
  else if constexpr (OP == BinaryOp::SiluBackward) return w * silu_grad(u);
  else if constexpr (OP == BinaryOp::GeluBackward) return w * gelu_grad(u);
  else if constexpr (OP == BinaryOp::ReluBackward) return u > 0.0f ? w : 0.0f;
  else if constexpr (OP == BinaryOp::SigmoidBackward) return w * u * (1.0f - u);
  else {
    static_assert(OP == BinaryOp::TanhBackward, "every BinaryOp has a formula");
    return w * (1.0f - u * u);
  }
}

// float -> int32 as the copy/cast does: truncation toward zero, saturating at the int32 range, NaN -> 0.
// NOTE: the plain conversion of NaN or out-of-range values is undefined in C++ (and differs between x86 and GPUs).
TG_HD int32_t float_to_i32(float v) {
  return v != v ? 0 : (v >= 2147483647.0f ? 2147483647 : (v <= -2147483648.0f ? INT32_MIN : static_cast<int32_t>(v)));
}

// arange's float32 element i: start + step * i in double, one rounding to float (an explicit fma, so every
// compiler rounds the same).
TG_HD float arange_f32_value(double start, double step, int64_t i) {
  return static_cast<float>(std::fma(step, static_cast<double>(i), start));
}

// SwiGLU: h = silu(gate) * up; dgate = dh * up * silu'(gate), dup = dh * silu(gate).
TG_HD float swiglu(float gate, float up) { return silu(gate) * up; }
TG_HD void swiglu_grad(float dh, float gate, float up, float& dgate, float& dup) {
  // gate * sigmoid(gate), not silu(gate): the sigmoid silu_grad needs is then the only divide.
  dup = dh * gate * sigmoid(gate);
  dgate = dh * up * silu_grad(gate);
}

}  // namespace tg::math
