// Thread pool implementation: one job at a time (kernels are launched from Node's single JS thread).
// Work is handed out by an atomic ticket, and the caller waits only for tickets that were taken, never
// for a sleeping worker to wake up: on a loaded 2-core machine a late worker simply finds no work left.
#include "core/simd.h"
#include "core/thread_pool.h"

#include <atomic>
#include <cerrno>
#include <exception>
#include <cstdlib>
#include <mutex>
#include <sched.h>
#include <thread>
#include <vector>

namespace tg {
namespace {

thread_local bool tls_in_parallel = false;

constexpr int kWorkerSpins = 10000;

// THINKGRAD_NUM_THREADS as a whole decimal integer; false when unset.
bool env_thread_count(std::string* text, int64_t* n, bool* is_integer) {
  const char* env = std::getenv("THINKGRAD_NUM_THREADS");
  if (env == nullptr) return false;
  *text = env;
  errno = 0;
  char* end = nullptr;
  long long parsed = std::strtoll(env, &end, 10);
  *is_integer = end != env && *end == '\0' && errno == 0;
  *n = *is_integer ? parsed : 0;
  return true;
}

int default_threads() {
  std::string text;
  int64_t n = 0;
  bool is_integer = false;
  // NOTE: an invalid value falls back to the CPU count here; the addon refuses to load with it
  // (thread_env_problem), so this only matters to code that uses the pool without the binding.
  if (env_thread_count(&text, &n, &is_integer) && is_integer && thread_count_problem(n).empty())
    return static_cast<int>(n);
  return available_cpus();
}

class Pool {
 public:
  Pool() : threads_(default_threads()) {}

  int threads() const { return threads_; }

  void set_threads(int n) {
    std::lock_guard<std::mutex> lock(run_mutex_);
    stop_workers();
    threads_ = n > 0 ? n : 1;
  }

  // Runs job(k) for every task k in [0, count), the caller included; `helpers` workers may join.
  void run(int64_t count, int helpers, const std::function<void(int64_t)>& job) {
    std::lock_guard<std::mutex> lock(run_mutex_);
    start_workers();
    job_ = &job;
    task_count_ = count;
    max_helpers_ = helpers;
    joined_.store(0, std::memory_order_relaxed);
    next_task_.store(0, std::memory_order_relaxed);
    done_tasks_.store(0, std::memory_order_relaxed);
    uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    open_generation_.store(gen, std::memory_order_release);
    generation_.store(gen, std::memory_order_release);
    generation_.notify_all();
    tls_in_parallel = true;
    drain();
    tls_in_parallel = false;
    // Wait for tickets taken by workers; yield so a descheduled worker can get this core back.
    for (int spin = 0; done_tasks_.load(std::memory_order_acquire) != task_count_; ++spin) {
      if (spin < 2000) cpu_relax();
      else sched_yield();
    }
    // Close the job, then wait out workers that are between joining and noticing it is closed.
    open_generation_.store(0, std::memory_order_release);
    while (inside_.load(std::memory_order_acquire) != 0) cpu_relax();
    job_ = nullptr;
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void drain() {
    for (;;) {
      int64_t k = next_task_.fetch_add(1, std::memory_order_relaxed);
      if (k >= task_count_) break;
      // An exception (e.g. bad_alloc of scratch memory) must not escape a worker thread, where it would
      // terminate the process: the first one is rethrown on the caller.
      try {
        (*job_)(k);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_tasks_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  // `seen` is the generation current when the worker was created: reading it inside the new thread
  // instead would race with run() publishing the first job.
  void worker_loop(uint64_t seen) {
    tls_in_parallel = true;
    for (;;) {
      uint64_t gen = seen;
      // ~250 us of pause (about 25 ns each on Zen 5): long enough to bridge the JS work between
      // back-to-back kernels (a futex wake-up of a halted vCPU costs tens of us), short enough that an
      // idle pool soon stops competing for the cores.
      for (int spin = 0; spin < kWorkerSpins; ++spin) {
        gen = generation_.load(std::memory_order_acquire);
        if (gen != seen) break;
        cpu_relax();
      }
      while (gen == seen) {
        generation_.wait(seen, std::memory_order_acquire);
        gen = generation_.load(std::memory_order_acquire);
      }
      seen = gen;
      if (stopping_.load(std::memory_order_acquire)) return;
      inside_.fetch_add(1, std::memory_order_acq_rel);
      if (open_generation_.load(std::memory_order_acquire) == gen &&
          joined_.fetch_add(1, std::memory_order_acq_rel) < max_helpers_)
        drain();
      inside_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void start_workers() {
    int wanted = threads_ - 1;
    if (static_cast<int>(workers_.size()) == wanted) return;
    stop_workers();
    stopping_.store(false);
    uint64_t current = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < wanted; ++i) workers_.emplace_back([this, current] { worker_loop(current); });
  }

  void stop_workers() {
    if (workers_.empty()) return;
    stopping_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int threads_;
  std::mutex run_mutex_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> open_generation_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> next_task_{0};
  std::atomic<int64_t> done_tasks_{0};
  std::atomic<int> joined_{0};
  std::atomic<int> inside_{0};
  int64_t task_count_ = 0;
  int max_helpers_ = 0;
  const std::function<void(int64_t)>* job_ = nullptr;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

Pool& pool() {
  // NOTE: leaked on purpose: joining threads from a static destructor at process exit can deadlock
  // when Node tears down the addon.
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

std::string thread_count_problem(int64_t n) {
  if (n >= 1 && n <= kMaxThreads) return "";
  return "thread count must be in [1, " + std::to_string(kMaxThreads) + "], got " + std::to_string(n);
}

std::string thread_env_problem() {
  std::string text;
  int64_t n = 0;
  bool is_integer = false;
  if (!env_thread_count(&text, &n, &is_integer)) return "";
  std::string problem = is_integer ? thread_count_problem(n)
                                   : "thread count must be an integer in [1, " + std::to_string(kMaxThreads) + "]";
  return problem.empty() ? "" : "THINKGRAD_NUM_THREADS=" + text + " is invalid: " + problem;
}

int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

int num_threads() { return pool().threads(); }
void set_num_threads(int n) { pool().set_threads(n); }
bool in_parallel_region() { return tls_in_parallel; }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int threads = num_threads();
  if (n <= grain || threads <= 1 || tls_in_parallel) {
    fn(0, n);
    return;
  }
  int64_t max_chunks = (n + grain - 1) / grain;
  // A few chunks per thread lets a thread slowed by the noisy machine hand work to the others.
  int64_t chunks = std::min<int64_t>(max_chunks, static_cast<int64_t>(threads) * 4);
  int64_t chunk = (n + chunks - 1) / chunks;
  chunks = (n + chunk - 1) / chunk;
  int helpers = static_cast<int>(std::min<int64_t>(chunks, threads)) - 1;
  std::function<void(int64_t)> job = [&](int64_t k) {
    int64_t begin = k * chunk;
    int64_t end = std::min(n, begin + chunk);
    fn(begin, end);
  };
  pool().run(chunks, helpers, job);
}

void parallel_run(int threads, const std::function<void(int, int)>& fn) {
  int count = std::min(threads, num_threads());
  if (count <= 1 || tls_in_parallel) {
    fn(0, 1);
    return;
  }
  std::function<void(int64_t)> job = [&](int64_t k) { fn(static_cast<int>(k), count); };
  pool().run(count, count - 1, job);
}

}  // namespace tg
