// cuBLASLt loaded at run time (see cublaslt.h). Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T:
// cuBLASLt's A is our B and its B our A, each read in its own storage layout with the transpose flag kept.
#include "cublaslt.h"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <tuple>
#include <vector>

namespace tg::cuda {
namespace {

// ---- the declared subset of cublasLt.h ---------------------------------------------------------------------
using cublasStatus_t = int;  // 0 = CUBLAS_STATUS_SUCCESS
constexpr cublasStatus_t kSuccess = 0;
struct cublasLtContext;
using cublasLtHandle_t = cublasLtContext*;
struct cublasLtMatmulDescOpaque;
using cublasLtMatmulDesc_t = cublasLtMatmulDescOpaque*;
struct cublasLtMatrixLayoutOpaque;
using cublasLtMatrixLayout_t = cublasLtMatrixLayoutOpaque*;
struct cublasLtMatmulPreferenceOpaque;
using cublasLtMatmulPreference_t = cublasLtMatmulPreferenceOpaque*;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};
constexpr int CUDA_R_32F = 0;
constexpr int CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_16BF = 75;
constexpr int32_t CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3, CUBLASLT_MATMUL_DESC_TRANSB = 4;
constexpr int CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6;
constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;

struct Api {
  cublasStatus_t (*create)(cublasLtHandle_t*);
  cublasStatus_t (*desc_create)(cublasLtMatmulDesc_t*, int compute, int scale_type);
  cublasStatus_t (*desc_set)(cublasLtMatmulDesc_t, int attr, const void* buf, size_t size);
  cublasStatus_t (*desc_destroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*layout_create)(cublasLtMatrixLayout_t*, int type, uint64_t rows, uint64_t cols, int64_t ld);
  cublasStatus_t (*layout_set)(cublasLtMatrixLayout_t, int attr, const void* buf, size_t size);
  cublasStatus_t (*layout_destroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*pref_create)(cublasLtMatmulPreference_t*);
  cublasStatus_t (*pref_set)(cublasLtMatmulPreference_t, int attr, const void* buf, size_t size);
  cublasStatus_t (*pref_destroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int requested,
                              cublasLtMatmulHeuristicResult_t* results, int* returned);
  cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void* alpha, const void* A, cublasLtMatrixLayout_t,
                           const void* B, cublasLtMatrixLayout_t, const void* beta, const void* C, cublasLtMatrixLayout_t,
                           void* D, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t* algo, void* workspace,
                           size_t workspace_bytes, cudaStream_t stream);
  const char* (*status_string)(cublasStatus_t);
};

struct Library {
  Api api{};
  cublasLtHandle_t handle = nullptr;
  std::string reason;  // "" once usable
};

template <class F>
bool resolve(void* lib, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
  return fn != nullptr;
}

Library load_library() {
  Library l;
#ifdef THINKGRAD_CUDA_EMULATOR
  l.reason = "cuBLASLt needs a GPU: the CPU emulator runs the addon's own kernels";
#else
  std::vector<std::string> names;
  if (const char* path = std::getenv("THINKGRAD_CUBLASLT_PATH")) names.push_back(path);
  for (const char* n : {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}) names.push_back(n);
  void* lib = nullptr;
  std::string tried;
  for (const std::string& n : names) {
    if ((lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
    const char* err = dlerror();
    tried += (tried.empty() ? "" : "; ") + (err ? std::string(err) : n + ": not loadable");
  }
  if (!lib) {
    l.reason = "cuBLASLt not found (" + tried + ")";
    return l;
  }
  Api& a = l.api;
  std::string missing;
  resolve(lib, "cublasLtCreate", a.create, missing);
  resolve(lib, "cublasLtMatmulDescCreate", a.desc_create, missing);
  resolve(lib, "cublasLtMatmulDescSetAttribute", a.desc_set, missing);
  resolve(lib, "cublasLtMatmulDescDestroy", a.desc_destroy, missing);
  resolve(lib, "cublasLtMatrixLayoutCreate", a.layout_create, missing);
  resolve(lib, "cublasLtMatrixLayoutSetAttribute", a.layout_set, missing);
  resolve(lib, "cublasLtMatrixLayoutDestroy", a.layout_destroy, missing);
  resolve(lib, "cublasLtMatmulPreferenceCreate", a.pref_create, missing);
  resolve(lib, "cublasLtMatmulPreferenceSetAttribute", a.pref_set, missing);
  resolve(lib, "cublasLtMatmulPreferenceDestroy", a.pref_destroy, missing);
  resolve(lib, "cublasLtMatmulAlgoGetHeuristic", a.heuristic, missing);
  resolve(lib, "cublasLtMatmul", a.matmul, missing);
  resolve(lib, "cublasLtGetStatusString", a.status_string, missing);
  if (!missing.empty()) {
    l.reason = "cuBLASLt lacks " + missing;
    return l;
  }
  if (cublasStatus_t s = a.create(&l.handle); s != kSuccess) {
    l.reason = std::string("cublasLtCreate failed: ") + a.status_string(s);
    l.handle = nullptr;
  }
#endif
  return l;
}

Library& library() {
  static Library l = load_library();
  return l;
}

// The largest power of two up to 16 dividing every batch's byte address (cuBLASLt assumes 256 unless told).
uint32_t alignment(const void* p, int64_t stride_elements) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) | static_cast<uint64_t>(stride_elements) * 4 | 16;
  return static_cast<uint32_t>(bits & (~bits + 1));
}

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // cuBLASLt's A (our B), B (our A), C = D
  bool found = false;
  cublasLtMatmulAlgo_t algo{};
};
using PlanKey = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool,
                           uint32_t, uint32_t, uint32_t>;
constexpr size_t kMaxPlans = 512;

std::map<PlanKey, Plan>& plans() {
  static auto* m = new std::map<PlanKey, Plan>();
  return *m;
}

void destroy(const Api& api, Plan& p) {
  if (p.desc) api.desc_destroy(p.desc);
  for (cublasLtMatrixLayout_t l : {p.a, p.b, p.c})
    if (l) api.layout_destroy(l);
}

std::string status_error(const Api& api, const char* what, cublasStatus_t s) {
  return std::string(what) + ": " + api.status_string(s);
}

#define TG_LT_TRY(expr, what)                                    \
  do {                                                           \
    if (cublasStatus_t s_ = (expr); s_ != kSuccess) return status_error(api, what, s_); \
  } while (0)

// A column-major rows x cols layout with leading dimension ld (at least rows, as cuBLASLt requires: a single
// column's ld is never used) and `batch` matrices `stride` elements apart.
std::string make_layout(const Api& api, cublasLtMatrixLayout_t* out, int64_t rows, int64_t cols, int64_t ld,
                        int64_t batch, int64_t stride) {
  if (cols == 1 && ld < rows) ld = rows;
  TG_LT_TRY(api.layout_create(out, CUDA_R_32F, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld),
            "cublasLtMatrixLayoutCreate");
  const int32_t count = static_cast<int32_t>(batch);
  TG_LT_TRY(api.layout_set(*out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count), "cublasLtMatrixLayoutSetAttribute");
  TG_LT_TRY(api.layout_set(*out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
            "cublasLtMatrixLayoutSetAttribute");
  return {};
}

std::string make_plan(const Api& api, cublasLtHandle_t handle, Plan& p, const GemmArgs& g, int64_t a_stride,
                      int64_t b_stride, bool fast_bf16, size_t workspace_bytes, uint32_t align_a, uint32_t align_b,
                      uint32_t align_c) {
  TG_LT_TRY(api.desc_create(&p.desc, fast_bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F, CUDA_R_32F),
            "cublasLtMatmulDescCreate");
  const int32_t op_a = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  TG_LT_TRY(api.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a), "cublasLtMatmulDescSetAttribute");
  TG_LT_TRY(api.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b), "cublasLtMatmulDescSetAttribute");
  // Our B stored row-major is column-major (N x K untransposed, K x N transposed); likewise our A.
  std::string err = make_layout(api, &p.a, g.trans_b ? g.K : g.N, g.trans_b ? g.N : g.K, g.ldb, g.batch, b_stride);
  if (err.empty()) err = make_layout(api, &p.b, g.trans_a ? g.M : g.K, g.trans_a ? g.K : g.M, g.lda, g.batch, a_stride);
  if (err.empty()) err = make_layout(api, &p.c, g.N, g.M, g.N, g.batch, g.M * g.N);
  if (!err.empty()) return err;
  cublasLtMatmulPreference_t pref = nullptr;
  TG_LT_TRY(api.pref_create(&pref), "cublasLtMatmulPreferenceCreate");
  const uint64_t ws = workspace_bytes;
  cublasStatus_t s = api.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  const uint32_t aligns[4][2] = {{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_b},
                                 {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_a},
                                 {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c},
                                 {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c}};
  for (const auto& [attr, bytes] : aligns)
    if (s == kSuccess) s = api.pref_set(pref, static_cast<int>(attr), &bytes, sizeof bytes);
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  if (s == kSuccess) {
    cublasStatus_t h = api.heuristic(handle, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &returned);
    // NOT_SUPPORTED (15) means no algorithm fits: the caller's own kernel runs.
    if (h != kSuccess && h != 15) s = h;
  }
  api.pref_destroy(pref);
  if (s != kSuccess) return status_error(api, "cublasLtMatmulAlgoGetHeuristic", s);
  p.found = returned > 0 && result.state == kSuccess;
  p.algo = result.algo;
  return {};
}

}  // namespace

const std::string& cublaslt_unavailable_reason() { return library().reason; }

std::string cublaslt_gemm(const GemmArgs& g, int64_t a_stride, int64_t b_stride, bool fast_bf16, void* workspace,
                          size_t workspace_bytes, cudaStream_t stream, bool* ran) {
  *ran = false;
  Library& l = library();
  if (!l.reason.empty()) return "cuBLASLt is unavailable: " + l.reason;
  const Api& api = l.api;
  const uint32_t align_a = alignment(g.a, a_stride), align_b = alignment(g.b, b_stride), align_c = alignment(g.c, g.M * g.N);
  const PlanKey key{g.trans_a, g.trans_b, g.M, g.N, g.K, g.lda, g.ldb, g.batch, a_stride, b_stride, fast_bf16, align_a,
                    align_b, align_c};
  auto it = plans().find(key);
  if (it == plans().end()) {
    if (plans().size() >= kMaxPlans) {
      for (auto& [k, p] : plans()) destroy(api, p);
      plans().clear();
    }
    Plan p;
    std::string err = make_plan(api, l.handle, p, g, a_stride, b_stride, fast_bf16, workspace_bytes, align_a, align_b, align_c);
    if (!err.empty()) {
      destroy(api, p);
      return err;
    }
    it = plans().emplace(key, p).first;
  }
  const Plan& p = it->second;
  if (!p.found) return {};
  TG_LT_TRY(api.matmul(l.handle, p.desc, &g.alpha, g.b, p.a, g.a, p.b, &g.beta, g.c, p.c, g.c, p.c, &p.algo, workspace,
                       workspace_bytes, stream),
            "cublasLtMatmul");
  *ran = true;
  return {};
}

}  // namespace tg::cuda
