// AdamW argument readers shared by both addons' adamwStep and adamwMultiStep (native/binding/fused.cc and
// cuda/binding_elementwise.cc): the same checks and messages on either device.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

#include "binding/args.h"

namespace tg::binding {

struct AdamWHyperArgs {
  float lr, beta1, beta2, eps, weight_decay;
  int64_t step;
};
// lr, beta1, beta2, eps, weightDecay, step at arguments i .. i + 5.
AdamWHyperArgs adamw_hyper_args(const Napi::CallbackInfo& info, int i, const char* op);

// adamwMultiStep's tensor lists (arguments 0 .. 8): buffer ids and element offsets per role, and the numels.
// Every list has the same length (at least 1) and every numel is positive; ids are looked up by each addon.
enum AdamWRole { kParams, kGrads, kMs, kVs, kRoleCount };
struct AdamWTensorLists {
  std::vector<int64_t> ids[kRoleCount], offsets[kRoleCount];
  std::vector<int64_t> numels;
  size_t size() const { return numels.size(); }
};
AdamWTensorLists adamw_tensor_lists(const Napi::CallbackInfo& info, const char* op);
// "params[3]", "grads[0]", ...: how errors name one tensor of the lists.
std::string adamw_tensor_name(int role, size_t index);

// The elements [begin, end) of the buffer at `base` one tensor of the lists touches.
struct AdamWSpan {
  const void* base;
  int64_t begin, end;
  int role;
  size_t index;
};
// Every param, m and v must have its own elements (gradients, only read, may be shared): a RangeError names the
// first two tensors, by (role, index), that share any.
void check_adamw_spans_disjoint(const char* op, std::vector<AdamWSpan> spans);

}  // namespace tg::binding
