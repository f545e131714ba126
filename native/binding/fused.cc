// Fused kernels' exports: softmax/log-softmax, RMSNorm, RoPE, attention, cross-entropy and AdamW, each
// forward and backward. Every tensor argument is (buffer id, element offset) and, for attention, a
// [sB, sT, sH] stride array; dims are plain integers. Everything is validated before a kernel runs.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "binding/adamw_args.h"
#include "binding/common.h"
#include "binding/tensor_args.h"
#include "ops/adamw.h"
#include "ops/attention.h"
#include "ops/kv_cache.h"
#include "ops/cross_entropy.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/softmax.h"

namespace tg::binding {
namespace {

using TensorArg = TensorSpan<Buffer>;

// ---- softmax family ----

// softmaxForward / logSoftmaxForward(yId, yOffset, xId, xOffset, rows, cols); y may be x (in place).
template <bool kLog>
Napi::Value softmax_fwd(const Napi::CallbackInfo& info) {
  const char* op = kLog ? "logSoftmaxForward" : "softmaxForward";
  TensorArg y = tensor_arg(info, 0, op, "y", DType::Float32);
  TensorArg x = tensor_arg(info, 2, op, "x", DType::Float32);
  int64_t rows = positive_dim(info, 4, op, "rows"), cols = positive_dim(info, 5, op, "cols");
  int64_t n = numel_of({rows, cols}, op);
  contiguous(op, y, n);
  contiguous(op, x, n);
  no_overlap(op, y, x, true);
  if (kLog) log_softmax_forward(typed<float>(*y.buf, y.offset), typed<float>(*x.buf, x.offset), rows, cols);
  else softmax_forward(typed<float>(*y.buf, y.offset), typed<float>(*x.buf, x.offset), rows, cols);
  return info.Env().Undefined();
}

// softmaxBackward / logSoftmaxBackward(dxId, dxOffset, dyId, dyOffset, yId, yOffset, rows, cols), y the
// forward's output; dx may be dy.
template <bool kLog>
Napi::Value softmax_bwd(const Napi::CallbackInfo& info) {
  const char* op = kLog ? "logSoftmaxBackward" : "softmaxBackward";
  TensorArg dx = tensor_arg(info, 0, op, "dx", DType::Float32);
  TensorArg dy = tensor_arg(info, 2, op, "dy", DType::Float32);
  TensorArg y = tensor_arg(info, 4, op, "y", DType::Float32);
  int64_t rows = positive_dim(info, 6, op, "rows"), cols = positive_dim(info, 7, op, "cols");
  int64_t n = numel_of({rows, cols}, op);
  contiguous(op, dx, n);
  contiguous(op, dy, n);
  contiguous(op, y, n);
  no_overlap(op, dx, dy, true);
  no_overlap(op, dx, y, false);
  float* pdx = typed<float>(*dx.buf, dx.offset);
  const float* pdy = typed<float>(*dy.buf, dy.offset);
  const float* py = typed<float>(*y.buf, y.offset);
  if (kLog) log_softmax_backward(pdx, pdy, py, rows, cols);
  else softmax_backward(pdx, pdy, py, rows, cols);
  return info.Env().Undefined();
}

// ---- RMSNorm ----

// rmsnormForward(yId, yOffset, rstdId, rstdOffset, xId, xOffset, wId, wOffset, rows, cols, eps)
Napi::Value rmsnorm_fwd(const Napi::CallbackInfo& info) {
  const char* op = "rmsnormForward";
  TensorArg y = tensor_arg(info, 0, op, "y", DType::Float32);
  TensorArg rstd = tensor_arg(info, 2, op, "rstd", DType::Float32);
  TensorArg x = tensor_arg(info, 4, op, "x", DType::Float32);
  TensorArg w = tensor_arg(info, 6, op, "weight", DType::Float32);
  int64_t rows = positive_dim(info, 8, op, "rows"), cols = positive_dim(info, 9, op, "cols");
  float eps = finite_arg(info, 10, op, "eps");
  if (eps < 0) throw_range(op, "eps must be >= 0");
  int64_t n = numel_of({rows, cols}, op);
  contiguous(op, y, n);
  contiguous(op, rstd, rows);
  contiguous(op, x, n);
  contiguous(op, w, cols);
  no_overlap(op, y, x, true);
  no_overlap(op, y, w, false);
  no_overlap(op, y, rstd, false);
  no_overlap(op, rstd, x, false);
  no_overlap(op, rstd, w, false);
  rmsnorm_forward(typed<float>(*y.buf, y.offset), typed<float>(*rstd.buf, rstd.offset), typed<float>(*x.buf, x.offset),
                  typed<float>(*w.buf, w.offset), rows, cols, eps);
  return info.Env().Undefined();
}

// rmsnormBackward(dxId, dxOffset, dwId, dwOffset, dyId, dyOffset, xId, xOffset, wId, wOffset, rstdId,
//                 rstdOffset, rows, cols); dw is overwritten; dx may be dy.
Napi::Value rmsnorm_bwd(const Napi::CallbackInfo& info) {
  const char* op = "rmsnormBackward";
  TensorArg dx = tensor_arg(info, 0, op, "dx", DType::Float32);
  TensorArg dw = tensor_arg(info, 2, op, "dweight", DType::Float32);
  TensorArg dy = tensor_arg(info, 4, op, "dy", DType::Float32);
  TensorArg x = tensor_arg(info, 6, op, "x", DType::Float32);
  TensorArg w = tensor_arg(info, 8, op, "weight", DType::Float32);
  TensorArg rstd = tensor_arg(info, 10, op, "rstd", DType::Float32);
  int64_t rows = positive_dim(info, 12, op, "rows"), cols = positive_dim(info, 13, op, "cols");
  int64_t n = numel_of({rows, cols}, op);
  contiguous(op, dx, n);
  contiguous(op, dw, cols);
  contiguous(op, dy, n);
  contiguous(op, x, n);
  contiguous(op, w, cols);
  contiguous(op, rstd, rows);
  no_overlap(op, dx, dy, true);
  for (const TensorArg* in : {&x, &w, &rstd, &dw}) no_overlap(op, dx, *in, false);
  for (const TensorArg* in : {&dy, &x, &w, &rstd}) no_overlap(op, dw, *in, false);
  rmsnorm_backward(typed<float>(*dx.buf, dx.offset), typed<float>(*dw.buf, dw.offset), typed<float>(*dy.buf, dy.offset),
                   typed<float>(*x.buf, x.offset), typed<float>(*w.buf, w.offset),
                   typed<float>(*rstd.buf, rstd.offset), rows, cols);
  return info.Env().Undefined();
}

// ---- RoPE ----

// ropeForward(yId, yOffset, xId, xOffset, cosId, cosOffset, sinId, sinOffset, posId, posOffset, B, T, H, D,
//             P, positionsPerBatch, inverse): x, y (B, T, H, D); cos, sin (P, D/2); positions int32 (B*T) when
// positionsPerBatch else (T). inverse rotates by -theta (the backward). y may be x.
Napi::Value rope_fwd(const Napi::CallbackInfo& info) {
  const char* op = "ropeForward";
  TensorArg y = tensor_arg(info, 0, op, "y", DType::Float32);
  TensorArg x = tensor_arg(info, 2, op, "x", DType::Float32);
  TensorArg cos = tensor_arg(info, 4, op, "cos", DType::Float32);
  TensorArg sin = tensor_arg(info, 6, op, "sin", DType::Float32);
  TensorArg pos = tensor_arg(info, 8, op, "positions", DType::Int32);
  int64_t B = positive_dim(info, 10, op, "B"), T = positive_dim(info, 11, op, "T");
  int64_t H = positive_dim(info, 12, op, "H"), D = positive_dim(info, 13, op, "D");
  int64_t P = positive_dim(info, 14, op, "P");
  bool per_batch = bool_arg(info, 15, op, "positionsPerBatch");
  bool inverse = bool_arg(info, 16, op, "inverse");
  if (D % 2 != 0) throw_range(op, "head dim D must be even, got x " + dims_str({B, T, H, D}));
  if (P > INT32_MAX) throw_range(op, "P must fit in int32");
  int64_t n = numel_of({B, T, H, D}, op);
  contiguous(op, y, n);
  contiguous(op, x, n);
  contiguous(op, cos, numel_of({P, D / 2}, op));
  contiguous(op, sin, P * (D / 2));
  contiguous(op, pos, per_batch ? B * T : T);
  no_overlap(op, y, x, true);
  for (const TensorArg* in : {&cos, &sin}) no_overlap(op, y, *in, false);
  int64_t bad = rope_forward(typed<float>(*y.buf, y.offset), typed<float>(*x.buf, x.offset),
                             typed<float>(*cos.buf, cos.offset), typed<float>(*sin.buf, sin.offset),
                             typed<int32_t>(*pos.buf, pos.offset), per_batch, B, T, H, D, P, inverse);
  if (bad >= 0)
    throw_range(op, "positions[" + std::to_string(bad) + "] = " +
                        std::to_string(typed<int32_t>(*pos.buf, pos.offset)[bad]) + " is outside the tables' [0, " +
                        std::to_string(P) + ")");
  return info.Env().Undefined();
}

// ---- attention ----

// A (B, T, H, D) view: id, offset, [sB, sT, sH] (D contiguous) at positions i, i+1, i+2.
struct HeadsArg {
  TensorArg t;
  int64_t sb, st, sh;
};

HeadsArg heads_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  TensorArg t = tensor_arg(info, i, op, name, DType::Float32);
  std::vector<int64_t> s = int_array_arg(info, i + 2, op, (std::string(name) + " strides").c_str());
  if (s.size() != 3) throw_range(op, std::string(name) + " strides must be [sB, sT, sH], got " + shape_str(s));
  return HeadsArg{t, s[0], s[1], s[2]};
}

// Checks the view (B, T, H, D) with strides [sB, sT, sH, 1] lies in its buffer and records its span. An
// output must also map distinct (b, t, h, d) to distinct elements: sorted by stride, each stride has to
// clear the extent of the smaller ones.
void check_heads(const char* op, HeadsArg& a, int64_t B, int64_t T, int64_t H, int64_t D, bool output) {
  std::vector<int64_t> shape{B, T, H, D}, strides{a.sb, a.st, a.sh, 1};
  check_view(op, a.t.name, *a.t.buf, a.t.offset, shape, strides);
  a.t.begin = a.t.offset;
  a.t.end = a.t.offset + 1;
  for (int d = 0; d < 4; ++d) a.t.end += (shape[d] - 1) * strides[d];
  if (!output) return;
  int order[4] = {0, 1, 2, 3};
  std::sort(order, order + 4, [&](int x, int y) { return strides[x] < strides[y]; });
  int64_t extent = 0;  // max offset reachable by the smaller-stride dims
  for (int k : order) {
    if (shape[k] == 1) continue;
    if (strides[k] <= extent)
      throw_range(op, std::string(a.t.name) + ": strides " + shape_str(strides) + " overlap for shape " +
                          shape_str(shape));
    extent += (shape[k] - 1) * strides[k];
  }
}

ConstHeadsView const_view(const HeadsArg& a) {
  return ConstHeadsView{typed<float>(*a.t.buf, a.t.offset), a.sb, a.st, a.sh};
}
HeadsView mut_view(const HeadsArg& a) { return HeadsView{typed<float>(*a.t.buf, a.t.offset), a.sb, a.st, a.sh}; }

// Reads B, Tq, Tk, Hq, Hkv, D, scale, causal from position i and validates them.
AttentionDims attention_dims(const Napi::CallbackInfo& info, int i, const char* op) {
  AttentionDims d;
  d.B = positive_dim(info, i, op, "B");
  d.Tq = positive_dim(info, i + 1, op, "Tq");
  d.Tk = positive_dim(info, i + 2, op, "Tk");
  d.Hq = positive_dim(info, i + 3, op, "Hq");
  d.Hkv = positive_dim(info, i + 4, op, "Hkv");
  d.D = positive_dim(info, i + 5, op, "D");
  d.scale = finite_arg(info, i + 6, op, "scale");
  d.causal = bool_arg(info, i + 7, op, "causal");
  d.precision = MatmulPrecision::Highest;  // the bf16 decode path has no block products; the others read theirs
  std::string shapes = "q " + dims_str({d.B, d.Tq, d.Hq, d.D}) + ", k/v " + dims_str({d.B, d.Tk, d.Hkv, d.D});
  if (d.Hq % d.Hkv != 0) throw_range(op, "Hq must be a multiple of Hkv (" + shapes + ")");
  if (d.causal && d.Tq > d.Tk)
    throw_range(op, "causal attention needs Tq <= Tk (queries are the last Tq positions; " + shapes + ")");
  return d;
}

// Left padding: int32 keyStart (B) contiguous at (id, offset) positions i, i + 1, or id 0 for none; each start in
// [0, Tk], with the causal mask (which places the queries among the keys). Sets d.key_start.
void key_start_arg(const Napi::CallbackInfo& info, int i, const char* op, AttentionDims& d) {
  if (info[i].IsNumber() && info[i].As<Napi::Number>().DoubleValue() == 0) return;
  TensorArg ks = tensor_arg(info, i, op, "keyStart", DType::Int32);
  contiguous(op, ks, d.B);
  if (!d.causal) throw_range(op, "keyStart (left padding) needs causal attention");
  const int32_t* starts = typed<int32_t>(*ks.buf, ks.offset);
  for (int64_t b = 0; b < d.B; ++b)
    if (starts[b] < 0 || starts[b] > d.Tk)
      throw_range(op, "keyStart[" + std::to_string(b) + "] = " + std::to_string(starts[b]) + " is outside [0, Tk = " +
                          std::to_string(d.Tk) + "]");
  d.key_start = starts;
}

// attentionForward(oId, oOffset, oStrides, lseId, lseOffset, qId, qOffset, qStrides, kId, kOffset,
//                  kStrides, vId, vOffset, vStrides, B, Tq, Tk, Hq, Hkv, D, scale, causal, keyStartId,
//                  keyStartOffset, precision?)
// o, q (B, Tq, Hq, D); k, v (B, Tk, Hkv, D); lse (B, Hq, Tq) contiguous; keyStart (B) int32 or id 0.
Napi::Value attention_fwd(const Napi::CallbackInfo& info) {
  const char* op = "attentionForward";
  HeadsArg o = heads_arg(info, 0, op, "o");
  TensorArg lse = tensor_arg(info, 3, op, "lse", DType::Float32);
  HeadsArg q = heads_arg(info, 5, op, "q");
  HeadsArg k = heads_arg(info, 8, op, "k");
  HeadsArg v = heads_arg(info, 11, op, "v");
  AttentionDims d = attention_dims(info, 14, op);
  key_start_arg(info, 22, op, d);
  d.precision = precision_arg(info, 24, op);
  numel_of({d.B, d.Tq, d.Hq, d.D}, op);
  numel_of({d.B, d.Tk, d.Hkv, d.D}, op);
  check_heads(op, o, d.B, d.Tq, d.Hq, d.D, true);
  contiguous(op, lse, d.B * d.Hq * d.Tq);
  check_heads(op, q, d.B, d.Tq, d.Hq, d.D, false);
  check_heads(op, k, d.B, d.Tk, d.Hkv, d.D, false);
  check_heads(op, v, d.B, d.Tk, d.Hkv, d.D, false);
  for (const TensorArg* in : {&q.t, &k.t, &v.t, &lse}) no_overlap(op, o.t, *in, false);
  for (const TensorArg* in : {&q.t, &k.t, &v.t}) no_overlap(op, lse, *in, false);
  attention_forward(mut_view(o), typed<float>(*lse.buf, lse.offset), const_view(q), const_view(k), const_view(v), d);
  return info.Env().Undefined();
}

// ---- bfloat16 KV cache ----

// A cache buffer (float32 storage holding the bf16 values two to a float) with dims B, Hkv, L, D at i..i+4. The
// buffer may be larger: a cache that dropped finished sequences keeps its first B rows.
Bf16Cache bf16_cache_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  Buffer& buf = buffer_arg(info, i, op, name, DType::Float32);
  const int64_t B = positive_dim(info, i + 1, op, "B"), Hkv = positive_dim(info, i + 2, op, "Hkv");
  const int64_t L = positive_dim(info, i + 3, op, "L"), D = positive_dim(info, i + 4, op, "D");
  const int64_t values = numel_of({B, Hkv, L, D}, op);
  if (values > 2 * buf.numel())
    throw_range(op, std::string(name) + " holds " + std::to_string(2 * buf.numel()) + " bf16 values, too few for a (" +
                        std::to_string(B) + ", " + std::to_string(Hkv) + ", " + std::to_string(L) + ", " +
                        std::to_string(D) + ") cache");
  return Bf16Cache{static_cast<uint16_t*>(buf.data), B, Hkv, L, D};
}

// kvCacheStore(cacheId, B, Hkv, L, D, pos, srcId, srcOffset, srcStrides, T): cache[:, :, pos:pos+T] = bf16(src),
// src a (B, T, Hkv, D) float32 view.
Napi::Value kv_cache_store_fn(const Napi::CallbackInfo& info) {
  const char* op = "kvCacheStore";
  const Bf16Cache cache = bf16_cache_arg(info, 0, op, "cache");
  const int64_t pos = int_arg(info, 5, op, "pos");
  HeadsArg src = heads_arg(info, 6, op, "src");
  const int64_t T = positive_dim(info, 9, op, "T");
  if (pos < 0 || pos + T > cache.L)
    throw_range(op, "positions [" + std::to_string(pos) + ", " + std::to_string(pos + T) + ") exceed the cache's " +
                        std::to_string(cache.L));
  check_heads(op, src, cache.B, T, cache.Hkv, cache.D, false);
  kv_cache_store(cache, pos, const_view(src), T);
  return info.Env().Undefined();
}

// kvCacheLoad(dstId, dstOffset, cacheId, B, Hkv, L, D, Tk): dst (B, Hkv, Tk, D) contiguous = cache[:, :, :Tk].
Napi::Value kv_cache_load_fn(const Napi::CallbackInfo& info) {
  const char* op = "kvCacheLoad";
  TensorArg dst = tensor_arg(info, 0, op, "dst", DType::Float32);
  const Bf16Cache cache = bf16_cache_arg(info, 2, op, "cache");
  const int64_t Tk = positive_dim(info, 7, op, "Tk");
  if (Tk > cache.L) throw_range(op, "Tk " + std::to_string(Tk) + " exceeds the cache's " + std::to_string(cache.L));
  contiguous(op, dst, numel_of({cache.B, cache.Hkv, Tk, cache.D}, op));
  kv_cache_load(typed<float>(*dst.buf, dst.offset), cache, Tk);
  return info.Env().Undefined();
}

// attentionDecodeBf16(oId, oOffset, oStrides, qId, qOffset, qStrides, kCacheId, vCacheId, L, B, Tq, Tk, Hq, Hkv,
//                     D, scale, causal, biasId, biasOffset, biasStrides): o, q (B, Tq, Hq, D) views; K and V the
// first Tk positions of (B, Hkv, L, D) bf16 caches; bias (B, Tq, Tk) strides [sB, sQ, sK], or biasId 0 for none.
Napi::Value attention_decode_bf16_fn(const Napi::CallbackInfo& info) {
  const char* op = "attentionDecodeBf16";
  HeadsArg o = heads_arg(info, 0, op, "o");
  HeadsArg q = heads_arg(info, 3, op, "q");
  const int64_t L = positive_dim(info, 8, op, "L");
  AttentionDims d = attention_dims(info, 9, op);
  if (d.Tk > L) throw_range(op, "Tk " + std::to_string(d.Tk) + " exceeds the cache's " + std::to_string(L));
  Buffer& kb = buffer_arg(info, 6, op, "kCache", DType::Float32);
  Buffer& vb = buffer_arg(info, 7, op, "vCache", DType::Float32);
  const int64_t values = numel_of({d.B, d.Hkv, L, d.D}, op);
  for (Buffer* b : {&kb, &vb})
    if (values > 2 * b->numel())
      throw_range(op, "a cache holds " + std::to_string(2 * b->numel()) + " bf16 values, too few for (" + std::to_string(d.B) +
                          ", " + std::to_string(d.Hkv) + ", " + std::to_string(L) + ", " + std::to_string(d.D) + ")");
  numel_of({d.B, d.Tq, d.Hq, d.D}, op);
  check_heads(op, o, d.B, d.Tq, d.Hq, d.D, true);
  check_heads(op, q, d.B, d.Tq, d.Hq, d.D, false);
  no_overlap(op, o.t, q.t, false);
  AttentionBias bias{nullptr, 0, 0, 0};
  if (!(info.Length() > 17 && info[17].IsNumber() && info[17].As<Napi::Number>().DoubleValue() == 0)) {
    TensorArg bt = tensor_arg(info, 17, op, "bias", DType::Float32);
    std::vector<int64_t> bs = int_array_arg(info, 19, op, "bias strides");
    if (bs.size() != 3) throw_range(op, "bias strides must be [sB, sQ, sK], got " + shape_str(bs));
    check_view(op, "bias", *bt.buf, bt.offset, {d.B, d.Tq, d.Tk}, bs);
    bias = AttentionBias{typed<float>(*bt.buf, bt.offset), bs[0], bs[1], bs[2]};
  }
  const Bf16Cache k{static_cast<uint16_t*>(kb.data), d.B, d.Hkv, L, d.D};
  const Bf16Cache v{static_cast<uint16_t*>(vb.data), d.B, d.Hkv, L, d.D};
  attention_decode_bf16(mut_view(o), const_view(q), k, v, bias, d);
  return info.Env().Undefined();
}

// attentionBackward(dqId, dqOffset, dqStrides, dkId, dkOffset, dkStrides, dvId, dvOffset, dvStrides,
//                   doId, doOffset, doStrides, qId, qOffset, qStrides, kId, kOffset, kStrides, vId, vOffset,
//                   vStrides, oId, oOffset, oStrides, lseId, lseOffset, B, Tq, Tk, Hq, Hkv, D, scale, causal,
//                   keyStartId, keyStartOffset, precision?): the forward's keyStart, as there.
Napi::Value attention_bwd(const Napi::CallbackInfo& info) {
  const char* op = "attentionBackward";
  HeadsArg dq = heads_arg(info, 0, op, "dq");
  HeadsArg dk = heads_arg(info, 3, op, "dk");
  HeadsArg dv = heads_arg(info, 6, op, "dv");
  HeadsArg d_o = heads_arg(info, 9, op, "do");
  HeadsArg q = heads_arg(info, 12, op, "q");
  HeadsArg k = heads_arg(info, 15, op, "k");
  HeadsArg v = heads_arg(info, 18, op, "v");
  HeadsArg o = heads_arg(info, 21, op, "o");
  TensorArg lse = tensor_arg(info, 24, op, "lse", DType::Float32);
  AttentionDims d = attention_dims(info, 26, op);
  key_start_arg(info, 34, op, d);
  d.precision = precision_arg(info, 36, op);
  numel_of({d.B, d.Tq, d.Hq, d.D}, op);
  numel_of({d.B, d.Tk, d.Hkv, d.D}, op);
  check_heads(op, dq, d.B, d.Tq, d.Hq, d.D, true);
  check_heads(op, dk, d.B, d.Tk, d.Hkv, d.D, true);
  check_heads(op, dv, d.B, d.Tk, d.Hkv, d.D, true);
  check_heads(op, d_o, d.B, d.Tq, d.Hq, d.D, false);
  check_heads(op, q, d.B, d.Tq, d.Hq, d.D, false);
  check_heads(op, k, d.B, d.Tk, d.Hkv, d.D, false);
  check_heads(op, v, d.B, d.Tk, d.Hkv, d.D, false);
  check_heads(op, o, d.B, d.Tq, d.Hq, d.D, false);
  contiguous(op, lse, d.B * d.Hq * d.Tq);
  const TensorArg* outs[] = {&dq.t, &dk.t, &dv.t};
  const TensorArg* ins[] = {&d_o.t, &q.t, &k.t, &v.t, &o.t, &lse};
  for (const TensorArg* out : outs) {
    for (const TensorArg* in : ins) no_overlap(op, *out, *in, false);
    for (const TensorArg* other : outs)
      if (other != out) no_overlap(op, *out, *other, false);
  }
  attention_backward(mut_view(dq), mut_view(dk), mut_view(dv), const_view(d_o), const_view(q), const_view(k),
                     const_view(v), const_view(o), typed<float>(*lse.buf, lse.offset), d);
  return info.Env().Undefined();
}

// ---- cross-entropy ----

std::string bad_target(int64_t row, const TensorArg& targets, int64_t V, int64_t ignore_index) {
  return "targets[" + std::to_string(row) + "] = " +
         std::to_string(typed<int32_t>(*targets.buf, targets.offset)[row]) + " is outside [0, " + std::to_string(V) +
         ") and is not ignore_index " + std::to_string(ignore_index);
}

// crossEntropyForward(lossId, lossOffset, lseId, lseOffset, logitsId, logitsOffset, targetsId,
//                     targetsOffset, N, V, ignoreIndex): loss, lse (N); logits (N, V); targets int32 (N).
Napi::Value cross_entropy_fwd(const Napi::CallbackInfo& info) {
  const char* op = "crossEntropyForward";
  TensorArg loss = tensor_arg(info, 0, op, "loss", DType::Float32);
  TensorArg lse = tensor_arg(info, 2, op, "lse", DType::Float32);
  TensorArg logits = tensor_arg(info, 4, op, "logits", DType::Float32);
  TensorArg targets = tensor_arg(info, 6, op, "targets", DType::Int32);
  int64_t N = positive_dim(info, 8, op, "N"), V = positive_dim(info, 9, op, "V");
  int64_t ignore_index = int_arg(info, 10, op, "ignoreIndex");
  contiguous(op, loss, N);
  contiguous(op, lse, N);
  contiguous(op, logits, numel_of({N, V}, op));
  contiguous(op, targets, N);
  no_overlap(op, loss, lse, false);
  for (const TensorArg* in : {&logits, &targets}) {
    no_overlap(op, loss, *in, false);
    no_overlap(op, lse, *in, false);
  }
  float* lse_out = typed<float>(*lse.buf, lse.offset);
  float* loss_out = typed<float>(*loss.buf, loss.offset);
  CrossEntropyForwardStatus status = cross_entropy_forward(loss_out, lse_out, typed<float>(*logits.buf, logits.offset),
                                                           typed<int32_t>(*targets.buf, targets.offset), N, V,
                                                           ignore_index);
  if (status.bad_target >= 0) throw_range(op, bad_target(status.bad_target, targets, V, ignore_index));
  if (int64_t row = status.nonfinite_row; row >= 0)
    throw_range(op, "logits " + shape_str({N, V}) + " row " + std::to_string(row) + " holds NaN or Inf (log-sum-exp = " +
                        std::to_string(lse_out[row]) + ", loss = " + std::to_string(loss_out[row]) +
                        "); check the model's outputs");
  return info.Env().Undefined();
}

// crossEntropyBackward(dlogitsId, dlogitsOffset, gId, gOffset, logitsId, logitsOffset, lseId, lseOffset,
//                      targetsId, targetsOffset, N, V, ignoreIndex): g (N) the upstream per-row gradient.
// dlogits may be logits (in place; the logits are consumed).
Napi::Value cross_entropy_bwd(const Napi::CallbackInfo& info) {
  const char* op = "crossEntropyBackward";
  TensorArg dlogits = tensor_arg(info, 0, op, "dlogits", DType::Float32);
  TensorArg g = tensor_arg(info, 2, op, "g", DType::Float32);
  TensorArg logits = tensor_arg(info, 4, op, "logits", DType::Float32);
  TensorArg lse = tensor_arg(info, 6, op, "lse", DType::Float32);
  TensorArg targets = tensor_arg(info, 8, op, "targets", DType::Int32);
  int64_t N = positive_dim(info, 10, op, "N"), V = positive_dim(info, 11, op, "V");
  int64_t ignore_index = int_arg(info, 12, op, "ignoreIndex");
  int64_t n = numel_of({N, V}, op);
  contiguous(op, dlogits, n);
  contiguous(op, g, N);
  contiguous(op, logits, n);
  contiguous(op, lse, N);
  contiguous(op, targets, N);
  no_overlap(op, dlogits, logits, true);
  for (const TensorArg* in : {&g, &lse, &targets}) no_overlap(op, dlogits, *in, false);
  int64_t bad = cross_entropy_backward(typed<float>(*dlogits.buf, dlogits.offset), typed<float>(*g.buf, g.offset),
                                       typed<float>(*logits.buf, logits.offset), typed<float>(*lse.buf, lse.offset),
                                       typed<int32_t>(*targets.buf, targets.offset), N, V, ignore_index);
  if (bad >= 0) throw_range(op, bad_target(bad, targets, V, ignore_index));
  return info.Env().Undefined();
}

// ---- AdamW ----

// adamwStep(pId, pOffset, gId, gOffset, mId, mOffset, vId, vOffset, n, lr, beta1, beta2, eps, weightDecay,
//           step): updates param, m, v in place.
Napi::Value adamw_step_fn(const Napi::CallbackInfo& info) {
  const char* op = "adamwStep";
  TensorArg p = tensor_arg(info, 0, op, "param", DType::Float32);
  TensorArg g = tensor_arg(info, 2, op, "grad", DType::Float32);
  TensorArg m = tensor_arg(info, 4, op, "m", DType::Float32);
  TensorArg v = tensor_arg(info, 6, op, "v", DType::Float32);
  int64_t n = positive_dim(info, 8, op, "n");
  const AdamWHyperArgs h = adamw_hyper_args(info, 9, op);
  contiguous(op, p, n);
  contiguous(op, g, n);
  contiguous(op, m, n);
  contiguous(op, v, n);
  const TensorArg* all[] = {&p, &g, &m, &v};
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b) no_overlap(op, *all[a], *all[b], false);
  adamw_step(typed<float>(*p.buf, p.offset), typed<float>(*g.buf, g.offset), typed<float>(*m.buf, m.offset),
             typed<float>(*v.buf, v.offset), n, h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.step);
  return info.Env().Undefined();
}

// adamwMultiStep(params, paramOffsets, grads, gradOffsets, ms, mOffsets, vs, vOffsets, numels, lr, beta1, beta2,
//                eps, weightDecay, step): adamwStep over every tensor of the lists (ids and offsets per tensor), with
//                the same checks, in one parallel region; no two tensors may share elements.
Napi::Value adamw_multi_step_fn(const Napi::CallbackInfo& info) {
  const char* op = "adamwMultiStep";
  const AdamWTensorLists l = adamw_tensor_lists(info, op);
  const AdamWHyperArgs h = adamw_hyper_args(info, 9, op);
  std::vector<AdamWTensor> tensors(l.size());
  std::vector<AdamWSpan> spans;
  spans.reserve(l.size() * kRoleCount);
  for (size_t t = 0; t < l.size(); ++t) {
    float* ptr[kRoleCount];
    for (int r = 0; r < kRoleCount; ++r) {
      const std::string name = adamw_tensor_name(r, t);
      Buffer& b = buffer_by_id(static_cast<double>(l.ids[r][t]), op, name, DType::Float32);
      check_range(op, name.c_str(), b, l.offsets[r][t], l.numels[t]);
      ptr[r] = typed<float>(b, l.offsets[r][t]);
      spans.push_back({b.data, l.offsets[r][t], l.offsets[r][t] + l.numels[t], r, t});
    }
    tensors[t] = AdamWTensor{ptr[kParams], ptr[kGrads], ptr[kMs], ptr[kVs], l.numels[t]};
  }
  check_adamw_spans_disjoint(op, std::move(spans));
  adamw_multi_step(tensors.data(), static_cast<int64_t>(tensors.size()), h.lr, h.beta1, h.beta2, h.eps, h.weight_decay,
                   h.step);
  return info.Env().Undefined();
}

}  // namespace

void register_fused(Napi::Env env, Napi::Object exports) {
  define(env, exports, "softmaxForward", softmax_fwd<false>, 6);
  define(env, exports, "logSoftmaxForward", softmax_fwd<true>, 6);
  define(env, exports, "softmaxBackward", softmax_bwd<false>, 8);
  define(env, exports, "logSoftmaxBackward", softmax_bwd<true>, 8);
  define(env, exports, "rmsnormForward", rmsnorm_fwd, 11);
  define(env, exports, "rmsnormBackward", rmsnorm_bwd, 14);
  define(env, exports, "ropeForward", rope_fwd, 17);
  define(env, exports, "attentionForward", attention_fwd, 25);
  define(env, exports, "attentionBackward", attention_bwd, 37);
  define(env, exports, "kvCacheStore", kv_cache_store_fn, 10);
  define(env, exports, "kvCacheLoad", kv_cache_load_fn, 8);
  define(env, exports, "attentionDecodeBf16", attention_decode_bf16_fn, 20);
  define(env, exports, "crossEntropyForward", cross_entropy_fwd, 11);
  define(env, exports, "crossEntropyBackward", cross_entropy_bwd, 13);
  define(env, exports, "adamwStep", adamw_step_fn, 15);
  define(env, exports, "adamwMultiStep", adamw_multi_step_fn, 15);
}

}  // namespace tg::binding
