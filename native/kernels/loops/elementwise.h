// Elementwise loops over contiguous runs (math/elementwise.h's formulas, shared with CUDA) and the bf16 casts.
// A loops/ fragment: compiled once per ISA by kernels/instantiate.h, never included elsewhere.

// NOTE: no __restrict on the SwiGLU loops: in-place calls alias the output with an input element for element.
void swiglu(float* h, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) h[i] = math::swiglu(gate[i], up[i]);
}

void swiglu_grad(float* dgate, float* dup, const float* dh, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) math::swiglu_grad(dh[i], gate[i], up[i], dgate[i], dup[i]);
}

void unary(UnaryOp op, float* __restrict out, const float* __restrict x, int64_t n, float p0, float p1) {
#define TG_MAP(OP)                                                                        \
  case UnaryOp::OP:                                                                       \
    for (int64_t i = 0; i < n; ++i) out[i] = math::unary_apply<UnaryOp::OP>(x[i], p0, p1); \
    return;
  switch (op) {
    TG_MAP(Neg)
    TG_MAP(Exp)
    TG_MAP(Log)
    TG_MAP(Sqrt)
    TG_MAP(Rsqrt)
    TG_MAP(Abs)
    TG_MAP(Tanh)
    TG_MAP(Sigmoid)
    TG_MAP(Silu)
    TG_MAP(Gelu)
    TG_MAP(Relu)
    TG_MAP(Sign)
    TG_MAP(Square)
    TG_MAP(Reciprocal)
    TG_MAP(AddScalar)
    TG_MAP(MulScalar)
    TG_MAP(Affine)
    TG_MAP(PowScalar)
    TG_MAP(RdivScalar)
    TG_MAP(RpowScalar)
    TG_MAP(Clamp)
    TG_MAP(EqScalar)
    TG_MAP(NeScalar)
    TG_MAP(LtScalar)
    TG_MAP(LeScalar)
    TG_MAP(GtScalar)
    TG_MAP(GeScalar)
    TG_MAP(IsNan)
    TG_MAP(Log1p)
    TG_MAP(Expm1)
    TG_MAP(Sin)
    TG_MAP(Cos)
    case UnaryOp::Count: return;
  }
#undef TG_MAP
}

// a_step / b_step are 1 (contiguous) or 0 (a broadcast scalar): three specializations the compiler
// vectorizes separately.
void binary(BinaryOp op, float* __restrict out, const float* __restrict a, int64_t a_step, const float* __restrict b,
            int64_t b_step, int64_t n) {
#define TG_ZIP(OP)                                                                           \
  case BinaryOp::OP:                                                                         \
    if (a_step == 1 && b_step == 1) {                                                        \
      for (int64_t i = 0; i < n; ++i) out[i] = math::binary_apply<BinaryOp::OP>(a[i], b[i]);  \
    } else if (a_step == 1) {                                                                \
      const float w = b[0];                                                                  \
      for (int64_t i = 0; i < n; ++i) out[i] = math::binary_apply<BinaryOp::OP>(a[i], w);     \
    } else {                                                                                 \
      const float u = a[0];                                                                  \
      for (int64_t i = 0; i < n; ++i) out[i] = math::binary_apply<BinaryOp::OP>(u, b[i]);     \
    }                                                                                        \
    return;
  switch (op) {
    TG_ZIP(Add)
    TG_ZIP(Sub)
    TG_ZIP(Mul)
    TG_ZIP(Div)
    TG_ZIP(Pow)
    TG_ZIP(Maximum)
    TG_ZIP(Minimum)
    TG_ZIP(Eq)
    TG_ZIP(Ne)
    TG_ZIP(Lt)
    TG_ZIP(Le)
    TG_ZIP(Gt)
    TG_ZIP(Ge)
    TG_ZIP(SiluBackward)
    TG_ZIP(GeluBackward)
    TG_ZIP(ReluBackward)
    TG_ZIP(SigmoidBackward)
    TG_ZIP(TanhBackward)
    case BinaryOp::Count: return;
  }
#undef TG_ZIP
}

void where(float* __restrict out, const float* __restrict c, const float* __restrict a, const float* __restrict b,
           int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = c[i] != 0.0f ? a[i] : b[i];
}

// Branch-free round-to-nearest-even (math/bf16.h) both ways.
void bf16_from_f32(uint16_t* __restrict out, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = math::bf16_from_float(x[i]);
}

void bf16_to_f32(float* __restrict out, const uint16_t* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = math::bf16_to_float(x[i]);
}
