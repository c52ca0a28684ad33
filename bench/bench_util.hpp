// What the benchmark programs share (local_bench.cpp, ssh_bench.cpp,
// socketpair_bench.cpp): the clock, medians, timed batches and runs, the
// median/min/max key=value lines, and reads and writes of exactly n bytes.
// Plain C++ and POSIX: socketpair-pingpong does not link mitosis. Where
// <mitosis/mitosis.hpp> comes first, also the remote functions the mitosis
// benches call, echo and sink.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

// 0 when there is nothing to take the median of.
inline double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

inline double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

inline double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// argv[i] as a number, or dflt when there are not that many arguments.
inline int arg_or(int argc, char** argv, int i, int dflt) {
  return argc > i ? std::atoi(argv[i]) : dflt;
}

// Figures for `batches`: microseconds per call, and calls per second (MiB/s
// when each call moves 1 MiB), of a batch of `batch` calls started at t0.
inline double us_per_call(clock_type::time_point t0, int batch) {
  return ms_since(t0) * 1000.0 / batch;
}
inline double per_second(clock_type::time_point t0, int batch) {
  return batch / (ms_since(t0) / 1000.0);
}

// Calls one() `warmup` times untimed, then in batches of `batch` calls until
// `calls` are done; returns figure(t0, batch) of each batch, t0 being when it
// started.
template <class One, class Figure>
std::vector<double> batches(int warmup, int calls, int batch, One one, Figure figure) {
  for (int i = 0; i < warmup; ++i)
    one();
  std::vector<double> per_batch;
  for (int done = 0; done < calls; done += batch) {
    auto t0 = clock_type::now();
    for (int i = 0; i < batch; ++i)
      one();
    per_batch.push_back(figure(t0, batch));
  }
  return per_batch;
}

// What ms_each does with each run's result by default: nothing.
struct ignore_result {
  template <class T>
  void operator()(const T&) const {}
};

// Milliseconds that run(i) takes, for each i from 0 to n - 1. What run(i)
// returns (a context, an exit status) lives until the clock has been read,
// then goes to after(result), untimed.
template <class Run, class After = ignore_result>
std::vector<double> ms_each(int n, Run run, After after = {}) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    auto result = run(i);
    ms.push_back(ms_since(t0));
    after(result);
  }
  return ms;
}

// Prints NAME_UNIT=median, NAME_min_UNIT=min and, with_max, NAME_max_UNIT=max
// (each %.3f).
inline void print_spread(const std::string& name, const char* unit, const std::vector<double>& v,
                         bool with_max = true) {
  std::printf("%s_%s=%.3f\n", name.c_str(), unit, median(v));
  std::printf("%s_min_%s=%.3f\n", name.c_str(), unit, *std::min_element(v.begin(), v.end()));
  if (with_max)
    std::printf("%s_max_%s=%.3f\n", name.c_str(), unit, *std::max_element(v.begin(), v.end()));
  if (std::getenv("BENCH_EACH")) { // every round, for a reader chasing a spread
    std::fprintf(stderr, "%s_%s each:", name.c_str(), unit);
    for (double x : v)
      std::fprintf(stderr, " %.3f", x);
    std::fprintf(stderr, "\n");
  }
}

// Makes one call fn(arg) on each context that `started` (futures of contexts)
// delivers, all of them in flight at once, and throws unless each returns arg.
template <class Futures, class Fn, class Arg>
void call_each(Futures& started, Fn fn, const Arg& arg) {
  std::vector<decltype(started.front().get().call_async(fn, arg))> calls;
  calls.reserve(started.size());
  for (auto& f : started)
    calls.push_back(f.get().call_async(fn, arg));
  for (auto& c : calls)
    if (c.get() != arg)
      throw std::runtime_error("echo returned something else");
}

// Calls op(fd, p, n) (::read or ::write) until all n bytes have moved,
// retrying on EINTR. Returns 1 when they have, else what the last call
// returned: 0 (end of file) or -1 (an error, in errno).
template <class Op, class Ptr>
long move_all(Op op, int fd, Ptr p, std::size_t n) {
  while (n > 0) {
    auto r = op(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return static_cast<long>(r);
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return 1;
}

inline long read_full(int fd, char* p, std::size_t n) {
  return move_all([](int f, char* q, std::size_t k) { return ::read(f, q, k); }, fd, p, n);
}

inline long write_full(int fd, const char* p, std::size_t n) {
  return move_all([](int f, const char* q, std::size_t k) { return ::write(f, q, k); }, fd, p, n);
}

} // namespace bench

#ifdef MITOSIS_REMOTE
inline std::string echo(std::string s) {
  return s;
}
MITOSIS_REMOTE(echo);

// Bulk data as the framework means it to travel (mitosis::blob).
inline std::uint64_t sink(mitosis::blob v) {
  return v.size();
}
MITOSIS_REMOTE(sink);

// One step of a pipelined chain: next to nothing to run.
inline int step(int i) {
  return i;
}
MITOSIS_REMOTE(step);

namespace bench {

// ssh options for root at host:port with `key`, host keys checked against
// `kh` (enforce, the default), as the OpenSSH runs do; no agent.
inline mitosis::ssh_options ssh_to(const std::string& host, int port, const std::string& key,
                                   const std::string& kh) {
  mitosis::ssh_options o;
  o.host = host;
  o.port = static_cast<std::uint16_t>(port);
  o.user = "root";
  o.identity_file = key;
  o.known_hosts = kh;
  o.use_agent = false;
  return o;
}

// Runs the mode named by argv[1] (a name and a function giving its exit
// status each), usage (64) for another; reports an exception as
// "<prog> <mode>: what" with status 1.
inline int run_modes(const char* prog, int argc, char** argv,
                     const std::vector<std::pair<std::string, std::function<int()>>>& modes) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    for (const auto& [name, run] : modes)
      if (name == mode)
        return run();
    std::string names;
    for (const auto& [name, run] : modes)
      names += (names.empty() ? "" : "|") + name;
    std::fprintf(stderr, "usage: %s %s ...\n", prog, names.c_str());
    return 64;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s %s: %s\n", prog, mode.c_str(), e.what());
    std::fflush(stdout);
    return 1;
  }
}

// Prints <prefix>one_rtt_us (one step() call), <prefix>chain100_us (100
// no-reply calls of a call_chain and a final call, one after another
// without waiting) and <prefix>seq100_us (100 step() calls, each waiting
// for its reply): medians over `reps`, after 3 untimed of each.
inline void chain_figures(const mitosis::context& c, int reps, const std::string& prefix) {
  std::vector<double> one, chain, seq;
  for (int r = 0; r < reps + 3; ++r) {
    auto t0 = clock_type::now();
    if (c.call(step, r) != r)
      throw std::runtime_error("step returned something else");
    auto t1 = clock_type::now();
    {
      mitosis::call_chain ch{c};
      for (int i = 0; i < 100; ++i)
        ch.call_no_reply(step, i);
      if (ch.call(step, 100) != 100)
        throw std::runtime_error("chained step returned something else");
    }
    auto t2 = clock_type::now();
    for (int i = 0; i < 100; ++i)
      if (c.call(step, i) != i)
        throw std::runtime_error("step returned something else");
    auto t3 = clock_type::now();
    if (r < 3)
      continue;
    auto us = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
    one.push_back(us(t0, t1));
    chain.push_back(us(t1, t2));
    seq.push_back(us(t2, t3));
  }
  std::printf("%sone_rtt_us=%.3f\n", prefix.c_str(), median(one));
  std::printf("%schain100_us=%.3f\n", prefix.c_str(), median(chain));
  std::printf("%sseq100_us=%.3f\n", prefix.c_str(), median(seq));
}

} // namespace bench
#endif
