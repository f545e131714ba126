// Op and dtype codes shared with the native enums: UnaryOp and BinaryOp in native/ops/elementwise.h, ReduceOp in
// native/ops/reduce.h, DType in native/core/dtype.h and the CUDA addon's DevDType in cuda/buffers.h. The C++
// enumerators are positional, so the order must match: tests/native-contract.test.ts parses those headers and
// compares every name and value.
export const UnaryOp = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, abs: 5, tanh: 6, sigmoid: 7, silu: 8, gelu: 9, relu: 10, sign: 11,
  square: 12, reciprocal: 13, addScalar: 14, mulScalar: 15, affine: 16, powScalar: 17, rdivScalar: 18,
  rpowScalar: 19, clamp: 20, eqScalar: 21, neScalar: 22, ltScalar: 23, leScalar: 24, gtScalar: 25, geScalar: 26,
  isNan: 27, log1p: 28, expm1: 29, sin: 30, cos: 31,
} as const;
export type UnaryOpName = keyof typeof UnaryOp;

export const BinaryOp = {
  add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, minimum: 6, eq: 7, ne: 8, lt: 9, le: 10, gt: 11, ge: 12,
  siluBackward: 13, geluBackward: 14, reluBackward: 15, sigmoidBackward: 16, tanhBackward: 17,
} as const;
export type BinaryOpName = keyof typeof BinaryOp;

export const ReduceOp = { sum: 0, mean: 1, max: 2, min: 3, logsumexp: 4, argmax: 5, argmin: 6 } as const;
export type ReduceOpName = keyof typeof ReduceOp;

/** Buffer dtypes of the CPU engine (bfloat16: 2 bytes an element). */
export const DTypeCode = { float32: 0, int32: 1, bfloat16: 2 } as const;

/** Buffer dtypes of the CUDA addon: the CPU's. */
export const CudaDTypeCode = DTypeCode;

/** `randomFill`'s distributions (native/binding/memory.cc). */
export const RandomKind = { uniform: 0, normal: 1 } as const;
