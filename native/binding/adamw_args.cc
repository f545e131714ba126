// AdamW argument readers shared by both addons (adamw_args.h).
#include "binding/adamw_args.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace tg::binding {
namespace {

// A list of integers of any length (int_array_arg takes shapes: at most 64 entries).
std::vector<int64_t> int_list_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsArray()) throw_type(op, std::string(name) + " must be an array of integers");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d == std::floor(d)) || std::fabs(d) > 9007199254740991.0)
      throw_type(op, std::string(name) + " must be an array of integers");
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

const char* const kRoleNames[kRoleCount] = {"params", "grads", "ms", "vs"};
const char* const kOffsetNames[kRoleCount] = {"paramOffsets", "gradOffsets", "mOffsets", "vOffsets"};

}  // namespace

AdamWHyperArgs adamw_hyper_args(const Napi::CallbackInfo& info, int i, const char* op) {
  AdamWHyperArgs h;
  h.lr = finite_arg(info, i, op, "lr");
  h.beta1 = finite_arg(info, i + 1, op, "beta1");
  h.beta2 = finite_arg(info, i + 2, op, "beta2");
  h.eps = finite_arg(info, i + 3, op, "eps");
  h.weight_decay = finite_arg(info, i + 4, op, "weightDecay");
  h.step = int_arg(info, i + 5, op, "step");
  if (h.step < 1) throw_range(op, "step must be positive, got " + std::to_string(h.step));
  if (h.lr < 0 || h.eps < 0 || h.weight_decay < 0) throw_range(op, "lr, eps and weightDecay must be >= 0");
  if (!(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1)) throw_range(op, "beta1 and beta2 must be in [0, 1)");
  return h;
}

std::string adamw_tensor_name(int role, size_t index) {
  return std::string(kRoleNames[role]) + "[" + std::to_string(index) + "]";
}

AdamWTensorLists adamw_tensor_lists(const Napi::CallbackInfo& info, const char* op) {
  AdamWTensorLists l;
  for (int r = 0; r < kRoleCount; ++r) {
    l.ids[r] = int_list_arg(info, 2 * r, op, kRoleNames[r]);
    l.offsets[r] = int_list_arg(info, 2 * r + 1, op, kOffsetNames[r]);
  }
  l.numels = int_list_arg(info, 8, op, "numels");
  const size_t n = l.numels.size();
  if (n == 0) throw_range(op, "numels is empty: no tensors to update");
  for (int r = 0; r < kRoleCount; ++r) {
    if (l.ids[r].size() != n || l.offsets[r].size() != n)
      throw_range(op, std::string(kRoleNames[r]) + " and " + kOffsetNames[r] + " must have one entry per tensor (" +
                          std::to_string(n) + " numels), got " + std::to_string(l.ids[r].size()) + " and " +
                          std::to_string(l.offsets[r].size()));
  }
  for (size_t t = 0; t < n; ++t)
    if (l.numels[t] < 1) throw_range(op, "numels[" + std::to_string(t) + "] must be positive, got " + std::to_string(l.numels[t]));
  return l;
}

void check_adamw_spans_disjoint(const char* op, std::vector<AdamWSpan> spans) {
  auto key = [](const AdamWSpan& a) { return std::make_pair(a.role, a.index); };
  std::sort(spans.begin(), spans.end(), [&](const AdamWSpan& a, const AdamWSpan& b) {
    if (a.base != b.base) return std::less<const void*>()(a.base, b.base);
    return a.begin != b.begin ? a.begin < b.begin : key(a) < key(b);
  });
  // Sorted by start within a buffer, a span overlaps an earlier one exactly when it starts before the end of the
  // earlier span reaching furthest: of any role for a written tensor, of a written role for a gradient (gradients
  // are only read, so two parameters may share one). Of all overlaps found, the first by (role, index) is
  // reported, so the message does not depend on where the buffers lie.
  const AdamWSpan* worst[2] = {nullptr, nullptr};
  const AdamWSpan *far_any = nullptr, *far_written = nullptr;
  for (size_t k = 0; k < spans.size(); ++k) {
    const AdamWSpan& s = spans[k];
    if (far_any && far_any->base != s.base) far_any = far_written = nullptr;
    const AdamWSpan* other = s.role == kGrads ? far_written : far_any;
    if (other && s.begin < other->end) {
      const AdamWSpan* a = key(*other) < key(s) ? other : &s;
      const AdamWSpan* b = a == &s ? other : &s;
      if (!worst[0] || std::make_pair(key(*a), key(*b)) < std::make_pair(key(*worst[0]), key(*worst[1]))) {
        worst[0] = a;
        worst[1] = b;
      }
    }
    if (!far_any || s.end > far_any->end) far_any = &s;
    if (s.role != kGrads && (!far_written || s.end > far_written->end)) far_written = &s;
  }
  if (worst[0])
    throw_range(op, adamw_tensor_name(worst[0]->role, worst[0]->index) + " overlaps " +
                        adamw_tensor_name(worst[1]->role, worst[1]->index) + " (every updated tensor needs its own elements)");
}

}  // namespace tg::binding
