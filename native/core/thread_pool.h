// The CPU engine's own thread pool: persistent workers that spin briefly, then sleep on a futex
// (std::atomic::wait), so an idle pool never competes with Node's main thread.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace tg {

constexpr int kMaxThreads = 1024;

// Empty when n is a usable thread count, else why not ("thread count must be in [1, 1024], got 0").
std::string thread_count_problem(int64_t n);
// Empty when THINKGRAD_NUM_THREADS is unset or a usable thread count, else what is wrong with it, naming
// the variable and its value.
std::string thread_env_problem();
// CPUs this process may run on (its affinity mask).
int available_cpus();

// Threads used by parallel_for, the caller included. Defaults to THINKGRAD_NUM_THREADS or available_cpus().
int num_threads();
void set_num_threads(int n);

// True on a pool worker (or inside a parallel region on the caller): nested parallel_for runs inline.
bool in_parallel_region();

// Runs fn(begin, end) over disjoint chunks covering [0, n). Chunks hold at least `grain` items, and at
// most num_threads() chunks run at once. Runs inline when n <= grain, with one thread, or when nested.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(index, count) for every index in [0, count), count = min(threads, num_threads()), spread over
// the pool; an index may run on any thread, and several on one thread, so fn must not wait on another.
void parallel_run(int threads, const std::function<void(int, int)>& fn);

}  // namespace tg
