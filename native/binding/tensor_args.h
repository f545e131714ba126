// Tensor arguments of the fused kernels' bindings, shared by both addons (native/binding/fused.cc,
// cuda/binding_layers.cc, cuda/binding_attention.cc) over either addon's buffer type: the buffer and the element
// offset JS passed, the element span the kernel touches once checked, and the overlap checks between a call's
// outputs and inputs.
#pragma once
#include <cstdint>
#include <string>

#include "binding/args.h"

namespace tg::binding {

template <class Buffer>
struct TensorSpan {
  Buffer* buf;
  int64_t offset;
  const char* name;
  int64_t begin = 0, end = 0;  // element span [begin, end) it touches, set once checked
  template <class T>
  T* at() const {
    return buf->template at<T>(offset);
  }
};

// Checks that `count` contiguous elements from the offset lie in the buffer and records the span.
template <class Buffer>
void contiguous(const char* op, TensorSpan<Buffer>& t, int64_t count) {
  check_elements(op, t.name, t.buf->numel(), t.offset, count);
  t.begin = t.offset;
  t.end = t.offset + count;
}

template <class Buffer>
bool spans_intersect(const TensorSpan<Buffer>& a, const TensorSpan<Buffer>& b) {
  return a.buf->data == b.buf->data && a.begin < b.end && b.begin < a.end && a.begin < a.end && b.begin < b.end;
}

// An output may coincide exactly with an input where the kernel supports in place (same offset and extent, when
// `exact_ok`); any other overlap would read values the kernel already overwrote.
template <class Buffer>
void no_overlap(const char* op, const TensorSpan<Buffer>& out, const TensorSpan<Buffer>& in, bool exact_ok = false) {
  if (!spans_intersect(out, in)) return;
  if (exact_ok && out.begin == in.begin && out.end == in.end) return;
  throw_range(op, std::string(out.name) + " overlaps " + in.name +
                      (exact_ok ? " without coinciding with it (only exact in place is supported)" : ""));
}

}  // namespace tg::binding
