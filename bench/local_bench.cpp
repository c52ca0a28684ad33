// mitosis-bench-local: the local-context figures of docs/benchmarks.md (Targets),
// printed as key=value lines for bench/run.sh:
//   rtt_us        call round trip of echo(64-byte string), median of batches
//   mib_s         throughput of sink(1 MiB mitosis::blob), median of batches
//   mib_s_vector  the same with a std::vector<char> parameter
//   start_ms      m.local() until it returns, median over fresh contexts
//   fanout100_ms  100 contexts started with local_async, each called once
//   rss_kb        VmRSS of an idle agent after a few calls
//   chain_one_rtt_us, chain_chain100_us, chain_seq100_us
//                 one call; 100 pipelined no-reply calls of a call_chain
//                 and a final call; 100 calls one after another (medians)
//
// Usage: mitosis-bench-local [rtt_calls] [mib_calls] [starts] [fanout]
//        mitosis-bench-local chain [reps]   (the chain figures only)
// The same binary is re-executed as the agent: mitosis::master comes first.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <mitosis/mitosis.hpp>
// mitosis.hpp does not pull in Boost's std::vector support: without this,
// a std::vector<char> parameter does not compile.
#include <boost/serialization/vector.hpp>

// echo and sink (1 MiB as a mitosis::blob) come from here ...
#include "bench_util.hpp"

// ... and sink_vector: the same as a plain std::vector<char> (one copy on the
// receiving side).
std::uint64_t sink_vector(std::vector<char> v) {
  return v.size();
}
MITOSIS_REMOTE(sink_vector);

namespace {

using namespace bench;

// VmRSS of `pid` in KiB, or -1.
long rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

mitosis::local_options named(std::string name) {
  mitosis::local_options o;
  o.name = std::move(name);
  return o;
}

} // namespace

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};  // in a started copy: serves, never returns
  if (argc > 1 && std::string{argv[1]} == "chain") {
    try {
      chain_figures(m.local(named("chain")), arg_or(argc, argv, 2, 200), "chain_");
      std::fflush(stdout);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mitosis-bench-local: %s\n", e.what());
      return 1;
    }
  }
  const int rtt_calls = arg_or(argc, argv, 1, 20000);
  const int mib_calls = arg_or(argc, argv, 2, 200);
  const int starts = arg_or(argc, argv, 3, 20);
  const int fanout = arg_or(argc, argv, 4, 100);
  try {
    // -- rss_kb: a fresh agent, a few small calls, then idle -------------------
    {
      auto c = m.local(named("rss"));
      const std::string s(64, 'r');
      for (int i = 0; i < 10; ++i)
        if (c.call(echo, s) != s)
          throw std::runtime_error("echo returned something else");
      std::this_thread::sleep_for(std::chrono::milliseconds{200});
      std::printf("rss_kb=%ld\n", rss_kb(m.pid_of(c)));
      std::printf("master_rss_kb=%ld\n", rss_kb(static_cast<int>(::getpid())));
    }

    // -- rtt_us: echo(64 bytes) ------------------------------------------------
    {
      auto c = m.local(named("rtt"));
      const std::string s(64, 'x');
      auto one = [&] {
        if (c.call(echo, s).size() != s.size())
          throw std::runtime_error("echo returned something else");
      };
      // 2000 warm-up calls, then batches of 1000
      print_spread("rtt", "us", batches(2000, rtt_calls, 1000, one, us_per_call));
      std::printf("rtt_calls=%d\n", rtt_calls);
    }

    // -- mib_s: sink(1 MiB blob), mib_s_vector: sink_vector(1 MiB vector) ---
    {
      auto c = m.local(named("sink"));
      auto measure = [&](auto fn, const auto& mib) {
        auto one = [&] {
          if (c.call(fn, mib) != mib.size())
            throw std::runtime_error("sink returned a wrong size");
        };
        // 10 warm-up calls, then batches of 20
        return median(batches(10, mib_calls, 20, one, per_second));
      };
      mitosis::blob mib_blob(1024 * 1024, 'y');
      const std::vector<char> mib_vector(1024 * 1024, 'y');
      std::printf("mib_s=%.1f\n", measure(sink, mib_blob));
      std::printf("mib_s_vector=%.1f\n", measure(sink_vector, mib_vector));
      std::printf("mib_calls=%d\n", mib_calls);
      std::printf("rss_after_mib_kb=%ld\n", rss_kb(m.pid_of(c)));
    }

    // -- chain: 100 pipelined calls vs 100 sequential vs one round trip ------
    chain_figures(m.local(named("chain")), 200, "chain_");

    // -- start_ms: m.local() on a fresh context each time -------------------
    {
      print_spread("start", "ms", ms_each(starts, [&](int i) {
                     return m.local(named("start." + std::to_string(i)));
                   }));
      std::printf("starts=%d\n", starts);
    }

    // -- fanout100_ms: N contexts started at once, each called once ----------
    {
      const std::string s(64, 'f');
      auto t0 = clock_type::now();
      std::vector<std::future<mitosis::context>> fs;
      fs.reserve(static_cast<std::size_t>(fanout));
      for (int i = 0; i < fanout; ++i)
        fs.push_back(m.local_async(named("fan." + std::to_string(i))));
      call_each(fs, echo, s);
      std::printf("fanout%d_ms=%.3f\n", fanout, ms_since(t0));
    }
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mitosis-bench-local: %s\n", e.what());
    std::fflush(stdout);
    return 1;
  }
  return 0;
}
