// The attention family of the CUDA addon: attentionForward/attentionBackward and the bfloat16 KV cache
// (kvCacheStore, kvCacheLoad, attentionDecodeBf16), with the CPU addon's arguments, checks and messages
// (native/binding/fused.cc). Every tensor argument is (buffer id, element offset) and, for heads, a [sB, sT, sH]
// stride array; views are checked against their device buffers before a kernel runs.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attention.cuh"
#include "binding/tensor_args.h"
#include "binding_families.h"
#include "buffers.h"
#include "kv_cache.cuh"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

using TensorArg = TensorSpan<DevBuffer>;

// A (B, T, H, D) view: id, offset, [sB, sT, sH] (D contiguous) at positions i, i+1, i+2.
struct HeadsArg {
  TensorArg t;
  int64_t sb, st, sh;
  tg::cuda::HeadsIn in() const { return {t.at<float>(), sb, st, sh}; }
  tg::cuda::HeadsOut out() const { return {t.at<float>(), sb, st, sh}; }
};

HeadsArg heads_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  TensorArg t = tensor_arg(info, i, op, name);
  std::vector<int64_t> s = int_array_arg(info, i + 2, op, (std::string(name) + " strides").c_str());
  if (s.size() != 3) throw_range(op, std::string(name) + " strides must be [sB, sT, sH], got " + shape_str(s));
  return HeadsArg{t, s[0], s[1], s[2]};
}

// The view (B, T, H, D) with strides [sB, sT, sH, 1] lies in its buffer; an output must also map distinct
// (b, t, h, d) to distinct elements: sorted by stride, each stride clears the extent of the smaller ones.
void check_heads(const char* op, HeadsArg& a, int64_t B, int64_t T, int64_t H, int64_t D, bool output) {
  std::vector<int64_t> shape{B, T, H, D}, strides{a.sb, a.st, a.sh, 1};
  check_view_elements(op, a.t.name, a.t.buf->numel(), a.t.offset, shape, strides);
  a.t.begin = a.t.offset;
  a.t.end = a.t.offset + 1;
  for (int d = 0; d < 4; ++d) a.t.end += (shape[d] - 1) * strides[d];
  if (!output) return;
  int order[4] = {0, 1, 2, 3};
  std::sort(order, order + 4, [&](int x, int y) { return strides[x] < strides[y]; });
  int64_t extent = 0;
  for (int k : order) {
    if (shape[k] == 1) continue;
    if (strides[k] <= extent)
      throw_range(op, std::string(a.t.name) + ": strides " + shape_str(strides) + " overlap for shape " + shape_str(shape));
    extent += (shape[k] - 1) * strides[k];
  }
}

// The CPU's precision argument, validated alike (absent: the process default): whether the block products run on
// bf16 tensor cores ('medium' where the device has them; otherwise float32).
bool bf16_products(const Napi::CallbackInfo& info, int i, const char* op) {
  if (absent(info, i)) return default_precision_medium() && tensor_cores_bf16();
  const std::string name = string_arg(info, i, op, "precision");
  if (name != "highest" && name != "medium") throw_range(op, "precision must be 'highest' or 'medium', got '" + name + "'");
  return name == "medium" && tensor_cores_bf16();
}

// B, Tq, Tk, Hq, Hkv, D, scale, causal from position i, validated as the CPU validates them.
tg::cuda::AttentionShape attention_dims(const Napi::CallbackInfo& info, int i, const char* op) {
  tg::cuda::AttentionShape d{};
  d.B = positive_dim(info, i, op, "B");
  d.Tq = positive_dim(info, i + 1, op, "Tq");
  d.Tk = positive_dim(info, i + 2, op, "Tk");
  d.Hq = positive_dim(info, i + 3, op, "Hq");
  d.Hkv = positive_dim(info, i + 4, op, "Hkv");
  d.D = positive_dim(info, i + 5, op, "D");
  const double scale = number_arg(info, i + 6, op, "scale");
  if (!std::isfinite(scale)) throw_range(op, "scale must be finite");
  d.scale = static_cast<float>(scale);
  d.causal = bool_arg(info, i + 7, op, "causal");
  const std::string shapes = "q " + dims_str({d.B, d.Tq, d.Hq, d.D}) + ", k/v " + dims_str({d.B, d.Tk, d.Hkv, d.D});
  if (d.Hq % d.Hkv != 0) throw_range(op, "Hq must be a multiple of Hkv (" + shapes + ")");
  if (d.causal && d.Tq > d.Tk)
    throw_range(op, "causal attention needs Tq <= Tk (queries are the last Tq positions; " + shapes + ")");
  return d;
}

// Left padding: int32 keyStart (B) contiguous at (id, offset) positions i, i + 1, or id 0 for none; each start in
// [0, Tk], with the causal mask, as the CPU checks them (the B starts are copied to the host for the check: a
// synchronization, as rope's positions check). Sets d.key_start.
void key_start_arg(const Napi::CallbackInfo& info, int i, const char* op, tg::cuda::AttentionShape& d) {
  if (info[i].IsNumber() && info[i].As<Napi::Number>().DoubleValue() == 0) return;
  DevBuffer& buf = typed_buffer(info, i, op, "keyStart", kI32, 0);
  const int64_t offset = int_arg(info, i + 1, op, "keyStart offset");
  check_elements(op, "keyStart", buf.numel(), offset, d.B);
  if (!d.causal) throw_range(op, "keyStart (left padding) needs causal attention");
  const int32_t* starts = buf.at<int32_t>(offset);
  std::vector<int32_t> host(static_cast<size_t>(d.B));
  check(cudaMemcpy(host.data(), starts, host.size() * sizeof(int32_t), cudaMemcpyDeviceToHost), "cudaMemcpy (keyStart)");
  for (int64_t b = 0; b < d.B; ++b)
    if (host[b] < 0 || host[b] > d.Tk)
      throw_range(op, "keyStart[" + std::to_string(b) + "] = " + std::to_string(host[b]) + " is outside [0, Tk = " +
                          std::to_string(d.Tk) + "]");
  d.key_start = starts;
}

void check_head_dim(const char* op, int64_t D, int64_t max) {
  if (D > max)
    throw_range(op, "head dim D = " + std::to_string(D) + " exceeds " + std::to_string(max) +
                        ", the largest the cuda kernels hold in shared memory and registers");
}

// attentionForward(oId, oOffset, oStrides, lseId, lseOffset, qId, qOffset, qStrides, kId, kOffset, kStrides,
//                  vId, vOffset, vStrides, B, Tq, Tk, Hq, Hkv, D, scale, causal, keyStartId, keyStartOffset,
//                  precision?)
Napi::Value attention_fwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.attentionForward";
  HeadsArg o = heads_arg(info, 0, op, "o");
  TensorArg lse = tensor_arg(info, 3, op, "lse");
  HeadsArg q = heads_arg(info, 5, op, "q");
  HeadsArg k = heads_arg(info, 8, op, "k");
  HeadsArg v = heads_arg(info, 11, op, "v");
  tg::cuda::AttentionShape d = attention_dims(info, 14, op);
  key_start_arg(info, 22, op, d);
  const bool bf16 = bf16_products(info, 24, op);
  numel_of({d.B, d.Tq, d.Hq, d.D}, op);
  numel_of({d.B, d.Tk, d.Hkv, d.D}, op);
  check_heads(op, o, d.B, d.Tq, d.Hq, d.D, true);
  contiguous(op, lse, d.B * d.Hq * d.Tq);
  check_heads(op, q, d.B, d.Tq, d.Hq, d.D, false);
  check_heads(op, k, d.B, d.Tk, d.Hkv, d.D, false);
  check_heads(op, v, d.B, d.Tk, d.Hkv, d.D, false);
  for (const TensorArg* in : {&q.t, &k.t, &v.t, &lse}) no_overlap(op, o.t, *in);
  for (const TensorArg* in : {&q.t, &k.t, &v.t}) no_overlap(op, lse, *in);
  check_head_dim(op, d.D, tg::cuda::kAttentionMaxHeadDim);
  DeviceState& dev = need_device();
  const int sms = dev.prop.multiProcessorCount;
  const size_t bytes = tg::cuda::attention_forward_scratch_bytes(d, sms);
  float* partial = bytes == 0 ? nullptr : static_cast<float*>(scratch(dev, bytes));
  check(tg::cuda::launch_attention_forward(o.out(), lse.at<float>(), q.in(), k.in(), v.in(), d, bf16, sms, partial, 0));
  return info.Env().Undefined();
}

// attentionBackward(dqId, dqOffset, dqStrides, dkId, dkOffset, dkStrides, dvId, dvOffset, dvStrides, doId,
//                   doOffset, doStrides, qId, qOffset, qStrides, kId, kOffset, kStrides, vId, vOffset, vStrides,
//                   oId, oOffset, oStrides, lseId, lseOffset, B, Tq, Tk, Hq, Hkv, D, scale, causal, keyStartId,
//                   keyStartOffset, precision?)
Napi::Value attention_bwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.attentionBackward";
  HeadsArg dq = heads_arg(info, 0, op, "dq");
  HeadsArg dk = heads_arg(info, 3, op, "dk");
  HeadsArg dv = heads_arg(info, 6, op, "dv");
  HeadsArg d_o = heads_arg(info, 9, op, "do");
  HeadsArg q = heads_arg(info, 12, op, "q");
  HeadsArg k = heads_arg(info, 15, op, "k");
  HeadsArg v = heads_arg(info, 18, op, "v");
  HeadsArg o = heads_arg(info, 21, op, "o");
  TensorArg lse = tensor_arg(info, 24, op, "lse");
  tg::cuda::AttentionShape d = attention_dims(info, 26, op);
  key_start_arg(info, 34, op, d);
  const bool bf16 = bf16_products(info, 36, op);
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
    for (const TensorArg* in : ins) no_overlap(op, *out, *in);
    for (const TensorArg* other : outs)
      if (other != out) no_overlap(op, *out, *other);
  }
  check_head_dim(op, d.D, tg::cuda::kAttentionMaxHeadDim);
  DeviceState& dev = need_device();
  float* delta = static_cast<float*>(scratch(dev, tg::cuda::attention_backward_scratch_bytes(d)));
  check(tg::cuda::launch_attention_backward(dq.out(), dk.out(), dv.out(), d_o.in(), q.in(), k.in(), v.in(), o.in(),
                                            lse.at<float>(), delta, d, bf16, 0));
  return info.Env().Undefined();
}

// A cache buffer (float32 storage holding the bf16 values two to a float) with dims B, Hkv, L, D at i..i+4. The
// buffer may be larger: a cache that dropped finished sequences keeps its first B rows.
tg::cuda::Bf16CacheRef bf16_cache_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  DevBuffer& buf = typed_buffer(info, i, op, name, kF32, 0);
  const int64_t B = positive_dim(info, i + 1, op, "B"), Hkv = positive_dim(info, i + 2, op, "Hkv");
  const int64_t L = positive_dim(info, i + 3, op, "L"), D = positive_dim(info, i + 4, op, "D");
  const int64_t values = numel_of({B, Hkv, L, D}, op);
  if (values > 2 * buf.numel())
    throw_range(op, std::string(name) + " holds " + std::to_string(2 * buf.numel()) + " bf16 values, too few for a (" +
                        std::to_string(B) + ", " + std::to_string(Hkv) + ", " + std::to_string(L) + ", " +
                        std::to_string(D) + ") cache");
  return {static_cast<uint16_t*>(buf.data), B, Hkv, L, D};
}

// kvCacheStore(cacheId, B, Hkv, L, D, pos, srcId, srcOffset, srcStrides, T): cache[:, :, pos:pos+T] = bf16(src),
// src a (B, T, Hkv, D) float32 view.
Napi::Value kv_cache_store_fn(const Napi::CallbackInfo& info) {
  const char* op = "cuda.kvCacheStore";
  const tg::cuda::Bf16CacheRef cache = bf16_cache_arg(info, 0, op, "cache");
  const int64_t pos = int_arg(info, 5, op, "pos");
  HeadsArg src = heads_arg(info, 6, op, "src");
  const int64_t T = positive_dim(info, 9, op, "T");
  if (pos < 0 || pos + T > cache.L)
    throw_range(op, "positions [" + std::to_string(pos) + ", " + std::to_string(pos + T) + ") exceed the cache's " +
                        std::to_string(cache.L));
  check_heads(op, src, cache.B, T, cache.Hkv, cache.D, false);
  need_device();
  check(tg::cuda::launch_kv_cache_store(cache, pos, src.in(), T, 0));
  return info.Env().Undefined();
}

// kvCacheLoad(dstId, dstOffset, cacheId, B, Hkv, L, D, Tk): dst (B, Hkv, Tk, D) contiguous = cache[:, :, :Tk].
Napi::Value kv_cache_load_fn(const Napi::CallbackInfo& info) {
  const char* op = "cuda.kvCacheLoad";
  TensorArg dst = tensor_arg(info, 0, op, "dst");
  const tg::cuda::Bf16CacheRef cache = bf16_cache_arg(info, 2, op, "cache");
  const int64_t Tk = positive_dim(info, 7, op, "Tk");
  if (Tk > cache.L) throw_range(op, "Tk " + std::to_string(Tk) + " exceeds the cache's " + std::to_string(cache.L));
  contiguous(op, dst, numel_of({cache.B, cache.Hkv, Tk, cache.D}, op));
  need_device();
  check(tg::cuda::launch_kv_cache_load(dst.at<float>(), cache, Tk, 0));
  return info.Env().Undefined();
}

// attentionDecodeBf16(oId, oOffset, oStrides, qId, qOffset, qStrides, kCacheId, vCacheId, L, B, Tq, Tk, Hq, Hkv,
//                     D, scale, causal, biasId, biasOffset, biasStrides): o, q (B, Tq, Hq, D) views; K and V the
// first Tk positions of (B, Hkv, L, D) bf16 caches; bias (B, Tq, Tk) strides [sB, sQ, sK], or biasId 0 for none.
Napi::Value attention_decode_bf16_fn(const Napi::CallbackInfo& info) {
  const char* op = "cuda.attentionDecodeBf16";
  HeadsArg o = heads_arg(info, 0, op, "o");
  HeadsArg q = heads_arg(info, 3, op, "q");
  const int64_t L = positive_dim(info, 8, op, "L");
  const tg::cuda::AttentionShape d = attention_dims(info, 9, op);
  if (d.Tk > L) throw_range(op, "Tk " + std::to_string(d.Tk) + " exceeds the cache's " + std::to_string(L));
  DevBuffer& kb = typed_buffer(info, 6, op, "kCache", kF32, 0);
  DevBuffer& vb = typed_buffer(info, 7, op, "vCache", kF32, 0);
  const int64_t values = numel_of({d.B, d.Hkv, L, d.D}, op);
  for (DevBuffer* b : {&kb, &vb})
    if (values > 2 * b->numel())
      throw_range(op, "a cache holds " + std::to_string(2 * b->numel()) + " bf16 values, too few for (" + std::to_string(d.B) +
                          ", " + std::to_string(d.Hkv) + ", " + std::to_string(L) + ", " + std::to_string(d.D) + ")");
  numel_of({d.B, d.Tq, d.Hq, d.D}, op);
  check_heads(op, o, d.B, d.Tq, d.Hq, d.D, true);
  check_heads(op, q, d.B, d.Tq, d.Hq, d.D, false);
  no_overlap(op, o.t, q.t);
  tg::cuda::AttentionBiasRef bias{nullptr, 0, 0, 0};
  if (!(info.Length() > 17 && info[17].IsNumber() && info[17].As<Napi::Number>().DoubleValue() == 0)) {
    TensorArg bt = tensor_arg(info, 17, op, "bias");
    std::vector<int64_t> bs = int_array_arg(info, 19, op, "bias strides");
    if (bs.size() != 3) throw_range(op, "bias strides must be [sB, sQ, sK], got " + shape_str(bs));
    check_view_elements(op, "bias", bt.buf->numel(), bt.offset, {d.B, d.Tq, d.Tk}, bs);
    bias = {bt.at<float>(), bs[0], bs[1], bs[2]};
  }
  check_head_dim(op, d.D, tg::cuda::kAttentionMaxHeadDim);
  DeviceState& dev = need_device();
  const int sms = dev.prop.multiProcessorCount;
  const size_t bytes = tg::cuda::attention_decode_scratch_bytes(d, sms);
  float* partial = bytes == 0 ? nullptr : static_cast<float*>(scratch(dev, bytes));
  const tg::cuda::Bf16CacheRef k{static_cast<uint16_t*>(kb.data), d.B, d.Hkv, L, d.D};
  const tg::cuda::Bf16CacheRef v{static_cast<uint16_t*>(vb.data), d.B, d.Hkv, L, d.D};
  check(tg::cuda::launch_attention_decode_bf16(o.out(), q.in(), k, v, bias, d, sms, partial, 0));
  return info.Env().Undefined();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  const struct {
    const char* name;
    Handler fn;
    int max_args;
  } functions[] = {
      {"attentionForward", attention_fwd, 25},
      {"attentionBackward", attention_bwd, 37},
      {"kvCacheStore", kv_cache_store_fn, 10},
      {"kvCacheLoad", kv_cache_load_fn, 8},
      {"attentionDecodeBf16", attention_decode_bf16_fn, 20},
  };
  for (const auto& f : functions) define(env, exports, f.name, f.fn, f.max_args, "cuda.");
}

}  // namespace tg::cuda_binding
