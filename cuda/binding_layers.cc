// The layer kernels of the CUDA addon: softmax / log-softmax, cross-entropy, RMSNorm and RoPE, forward and
// backward, with the CPU binding's arguments, checks and messages (native/binding/fused.cc). Every tensor
// argument is (buffer id, element offset); bad targets, positions and non-finite logits are found on the device
// and read back, so they are the CPU's RangeErrors.
#include <climits>
#include <cmath>
#include <string>

#include "binding/tensor_args.h"
#include "binding_families.h"
#include "buffers.h"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "softmax.cuh"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

using TensorArg = TensorSpan<DevBuffer>;

// Device status words, reset to INT_MAX ("nothing found") before a kernel reports into them.
int* reset_status(DeviceState& d) {
  const int init[2] = {INT_MAX, INT_MAX};
  check(cudaMemcpyAsync(d.status, init, sizeof init, cudaMemcpyHostToDevice, 0), "cudaMemcpyAsync");
  return d.status;
}
void read_status(DeviceState& d, int (&status)[2]) {
  check(cudaMemcpy(status, d.status, sizeof status, cudaMemcpyDeviceToHost), "cudaMemcpy (status)");
}
template <class T>
T read_one(const T* p) {
  T v{};
  check(cudaMemcpy(&v, p, sizeof v, cudaMemcpyDeviceToHost), "cudaMemcpy");
  return v;
}

// ---- softmax family ----

// softmaxForward / logSoftmaxForward(yId, yOffset, xId, xOffset, rows, cols); y may be x (in place).
template <bool kLog>
Napi::Value softmax_fwd(const Napi::CallbackInfo& info) {
  const char* op = kLog ? "cuda.logSoftmaxForward" : "cuda.softmaxForward";
  TensorArg y = tensor_arg(info, 0, op, "y", kF32);
  TensorArg x = tensor_arg(info, 2, op, "x", kF32);
  int64_t rows = positive_dim(info, 4, op, "rows"), cols = positive_dim(info, 5, op, "cols");
  int64_t n = numel_of({rows, cols}, op);
  contiguous(op, y, n);
  contiguous(op, x, n);
  no_overlap(op, y, x, true);
  need_device();
  check(tg::cuda::launch_softmax_forward(y.at<float>(), x.at<float>(), rows, cols, kLog, 0));
  return info.Env().Undefined();
}

// softmaxBackward / logSoftmaxBackward(dxId, dxOffset, dyId, dyOffset, yId, yOffset, rows, cols), y the forward's
// output; dx may be dy.
template <bool kLog>
Napi::Value softmax_bwd(const Napi::CallbackInfo& info) {
  const char* op = kLog ? "cuda.logSoftmaxBackward" : "cuda.softmaxBackward";
  TensorArg dx = tensor_arg(info, 0, op, "dx", kF32);
  TensorArg dy = tensor_arg(info, 2, op, "dy", kF32);
  TensorArg y = tensor_arg(info, 4, op, "y", kF32);
  int64_t rows = positive_dim(info, 6, op, "rows"), cols = positive_dim(info, 7, op, "cols");
  int64_t n = numel_of({rows, cols}, op);
  contiguous(op, dx, n);
  contiguous(op, dy, n);
  contiguous(op, y, n);
  no_overlap(op, dx, dy, true);
  no_overlap(op, dx, y, false);
  need_device();
  check(tg::cuda::launch_softmax_backward(dx.at<float>(), dy.at<float>(), y.at<float>(), rows, cols, kLog, 0));
  return info.Env().Undefined();
}

// ---- RMSNorm ----

// rmsnormForward(yId, yOffset, rstdId, rstdOffset, xId, xOffset, wId, wOffset, rows, cols, eps)
Napi::Value rmsnorm_fwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.rmsnormForward";
  TensorArg y = tensor_arg(info, 0, op, "y", kF32);
  TensorArg rstd = tensor_arg(info, 2, op, "rstd", kF32);
  TensorArg x = tensor_arg(info, 4, op, "x", kF32);
  TensorArg w = tensor_arg(info, 6, op, "weight", kF32);
  int64_t rows = positive_dim(info, 8, op, "rows"), cols = positive_dim(info, 9, op, "cols");
  double eps = number_arg(info, 10, op, "eps");
  if (!std::isfinite(eps)) throw_range(op, "eps must be finite");
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
  need_device();
  check(tg::cuda::launch_rmsnorm_forward(y.at<float>(), rstd.at<float>(), x.at<float>(), w.at<float>(), rows, cols,
                                         static_cast<float>(eps), 0));
  return info.Env().Undefined();
}

// rmsnormBackward(dxId, dxOffset, dwId, dwOffset, dyId, dyOffset, xId, xOffset, wId, wOffset, rstdId, rstdOffset,
//                 rows, cols); dw is overwritten; dx may be dy.
Napi::Value rmsnorm_bwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.rmsnormBackward";
  TensorArg dx = tensor_arg(info, 0, op, "dx", kF32);
  TensorArg dw = tensor_arg(info, 2, op, "dweight", kF32);
  TensorArg dy = tensor_arg(info, 4, op, "dy", kF32);
  TensorArg x = tensor_arg(info, 6, op, "x", kF32);
  TensorArg w = tensor_arg(info, 8, op, "weight", kF32);
  TensorArg rstd = tensor_arg(info, 10, op, "rstd", kF32);
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
  DeviceState& d = need_device();
  void* s = scratch(d, tg::cuda::rmsnorm_backward_scratch_bytes(rows, cols));
  check(tg::cuda::launch_rmsnorm_backward(dx.at<float>(), dw.at<float>(), dy.at<float>(), x.at<float>(), w.at<float>(),
                                          rstd.at<float>(), rows, cols, s, 0));
  return info.Env().Undefined();
}

// ---- RoPE ----

// ropeForward(yId, yOffset, xId, xOffset, cosId, cosOffset, sinId, sinOffset, posId, posOffset, B, T, H, D, P,
//             positionsPerBatch, inverse): x, y (B, T, H, D); cos, sin (P, D/2); positions int32 (B*T) when
// positionsPerBatch else (T). inverse rotates by -theta (the backward). y may be x.
Napi::Value rope_fwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.ropeForward";
  TensorArg y = tensor_arg(info, 0, op, "y", kF32);
  TensorArg x = tensor_arg(info, 2, op, "x", kF32);
  TensorArg cos = tensor_arg(info, 4, op, "cos", kF32);
  TensorArg sin = tensor_arg(info, 6, op, "sin", kF32);
  TensorArg pos = tensor_arg(info, 8, op, "positions", kI32);
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
  const int64_t npos = per_batch ? B * T : T;
  contiguous(op, pos, npos);
  no_overlap(op, y, x, true);
  for (const TensorArg* in : {&cos, &sin}) no_overlap(op, y, *in, false);
  // The kernel indexes a (b, t) row's pairs and the status word's positions as ints.
  if (H * D > INT_MAX || npos > INT_MAX - 1) throw_range(op, "x " + dims_str({B, T, H, D}) + " is too large for cuda");
  DeviceState& d = need_device();
  int* status = reset_status(d);
  const int32_t* positions = pos.at<int32_t>();
  check(tg::cuda::launch_check_positions(positions, npos, P, status, 0));
  check(tg::cuda::launch_rope(y.at<float>(), x.at<float>(), cos.at<float>(), sin.at<float>(), positions, per_batch, B,
                              T, H, D, inverse, status, 0));
  int st[2];
  read_status(d, st);
  if (st[0] != INT_MAX)
    throw_range(op, "positions[" + std::to_string(st[0]) + "] = " + std::to_string(read_one(positions + st[0])) +
                        " is outside the tables' [0, " + std::to_string(P) + ")");
  return info.Env().Undefined();
}

// ---- cross-entropy ----

std::string bad_target(int64_t row, const int32_t* targets, int64_t V, int64_t ignore_index) {
  return "targets[" + std::to_string(row) + "] = " + std::to_string(read_one(targets + row)) + " is outside [0, " +
         std::to_string(V) + ") and is not ignore_index " + std::to_string(ignore_index);
}

void check_rows(const char* op, int64_t N) {
  // The device status words hold a row as an int.
  if (N > INT_MAX - 1) throw_range(op, "at most 2^31 - 2 rows on cuda, got N = " + std::to_string(N));
}

// crossEntropyForward(lossId, lossOffset, lseId, lseOffset, logitsId, logitsOffset, targetsId, targetsOffset, N,
//                     V, ignoreIndex): loss, lse (N); logits (N, V); targets int32 (N).
Napi::Value cross_entropy_fwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.crossEntropyForward";
  TensorArg loss = tensor_arg(info, 0, op, "loss", kF32);
  TensorArg lse = tensor_arg(info, 2, op, "lse", kF32);
  TensorArg logits = tensor_arg(info, 4, op, "logits", kF32);
  TensorArg targets = tensor_arg(info, 6, op, "targets", kI32);
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
  check_rows(op, N);
  DeviceState& d = need_device();
  int* status = reset_status(d);
  float* lse_out = lse.at<float>();
  float* loss_out = loss.at<float>();
  check(tg::cuda::launch_cross_entropy_forward(loss_out, lse_out, logits.at<float>(), targets.at<int32_t>(), N, V,
                                               ignore_index, status, 0));
  int st[2];
  read_status(d, st);
  if (st[1] != INT_MAX) throw_range(op, bad_target(st[1], targets.at<int32_t>(), V, ignore_index));
  if (int64_t row = st[0]; row != INT_MAX)
    throw_range(op, "logits " + shape_str({N, V}) + " row " + std::to_string(row) + " holds NaN or Inf (log-sum-exp = " +
                        std::to_string(read_one(lse_out + row)) + ", loss = " + std::to_string(read_one(loss_out + row)) +
                        "); check the model's outputs");
  return info.Env().Undefined();
}

// crossEntropyBackward(dlogitsId, dlogitsOffset, gId, gOffset, logitsId, logitsOffset, lseId, lseOffset, targetsId,
//                      targetsOffset, N, V, ignoreIndex): g (N) the upstream per-row gradient. dlogits may be logits
// (in place; the logits are consumed).
Napi::Value cross_entropy_bwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.crossEntropyBackward";
  TensorArg dlogits = tensor_arg(info, 0, op, "dlogits", kF32);
  TensorArg g = tensor_arg(info, 2, op, "g", kF32);
  TensorArg logits = tensor_arg(info, 4, op, "logits", kF32);
  TensorArg lse = tensor_arg(info, 6, op, "lse", kF32);
  TensorArg targets = tensor_arg(info, 8, op, "targets", kI32);
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
  check_rows(op, N);
  DeviceState& d = need_device();
  int* status = reset_status(d);
  check(tg::cuda::launch_cross_entropy_backward(dlogits.at<float>(), g.at<float>(), logits.at<float>(), lse.at<float>(),
                                                targets.at<int32_t>(), N, V, ignore_index, status, 0));
  int st[2];
  read_status(d, st);
  if (st[1] != INT_MAX) throw_range(op, bad_target(st[1], targets.at<int32_t>(), V, ignore_index));
  return info.Env().Undefined();
}

}  // namespace

void register_layers(Napi::Env env, Napi::Object exports) {
  define(env, exports, "softmaxForward", softmax_fwd<false>, 6, "cuda.");
  define(env, exports, "logSoftmaxForward", softmax_fwd<true>, 6, "cuda.");
  define(env, exports, "softmaxBackward", softmax_bwd<false>, 8, "cuda.");
  define(env, exports, "logSoftmaxBackward", softmax_bwd<true>, 8, "cuda.");
  define(env, exports, "rmsnormForward", rmsnorm_fwd, 11, "cuda.");
  define(env, exports, "rmsnormBackward", rmsnorm_bwd, 14, "cuda.");
  define(env, exports, "ropeForward", rope_fwd, 17, "cuda.");
  define(env, exports, "crossEntropyForward", cross_entropy_fwd, 11, "cuda.");
  define(env, exports, "crossEntropyBackward", cross_entropy_bwd, 13, "cuda.");
}

}  // namespace tg::cuda_binding
