// The file figures (bench/run.sh files; docs/files.md, docs/benchmarks.md):
// pushing one big file, a tree of 1,000 small files, and one file to 20
// hosts behind one bastion. Prints key=value lines.
//
//   mitosis-bench-files local WORKDIR [big_mib]
//     big_local_mib_s       push_file of big_mib MiB (default 1024) to a local child
//     small1000_local_ms    push_tree of 1,000 files of 1 KiB to a local child
//     small1000_floor_local_ms  the same files written by a plain loop in
//                           the child (part file, rename; no sync)
//   mitosis-bench-files ssh HOST PORT KEY KNOWN_HOSTS WORKDIR [big_mib]
//     big_mib_s, small1000_ms, small1000_floor_ms   the same over one ssh hop
//   mitosis-bench-files push20 KEY KNOWN_HOSTS WORKDIR MIB BASTION HOST...
//     push20_ms               mitosis::push of MIB MiB to every HOST, each
//                             reached through the bastion (ssh via ssh)
//     push20_upstream_ratio   bytes the master wrote toward the bastion
//                             during the push / the file size
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <mitosis/actors/runtime.hpp>
#include <mitosis/mitosis.hpp>

#include "bench_util.hpp"

namespace {

using bench::clock_type;
using bench::ms_since;
using bench::ssh_to;

void make_file(const std::string& path, std::uint64_t size) {
  std::ofstream out{path, std::ios::binary};
  std::string block(1 << 20, '\0');
  std::uint64_t x = 88172645463325252ull;
  for (auto& c : block) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  for (std::uint64_t done = 0; done < size; done += block.size()) {
    block[0] = static_cast<char>(done >> 20); // no two MiB alike
    out.write(block.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(block.size(), size - done)));
  }
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

// The small tree: 1,000 files of 1 KiB in 10 directories below `dir`;
// `write(path, bytes)` writes each one (the directories are made here).
template <class Write>
void small_tree(const std::string& dir, Write write) {
  ::mkdir(dir.c_str(), 0755);
  std::string kib(1024, 'k');
  for (int d = 0; d < 10; ++d) {
    auto sub = dir + "/d" + std::to_string(d);
    ::mkdir(sub.c_str(), 0755);
    for (int f = 0; f < 100; ++f) {
      kib[0] = static_cast<char>(f);
      kib[1] = static_cast<char>(d);
      write(sub + "/f" + std::to_string(f), kib);
    }
  }
}

void make_small_tree(const std::string& dir) {
  small_tree(dir, [](const std::string& path, const std::string& bytes) {
    std::ofstream{path, std::ios::binary} << bytes;
  });
}

// Runs in the target: writes the small tree below `dir` the cheapest
// atomic way (a part file created, written, closed and renamed; no sync),
// as a plain loop; returns the milliseconds. The floor under small1000:
// what the target's file system costs for these files, with no transfer.
double write_tree_floor(std::string dir) {
  const auto t = clock_type::now();
  small_tree(dir, [](const std::string& path, const std::string& bytes) {
    const auto part = path + ".part";
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())
        || ::close(fd) != 0 || ::rename(part.c_str(), path.c_str()) != 0)
      throw std::runtime_error("cannot write " + part);
  });
  return ms_since(t);
}
MITOSIS_REMOTE(write_tree_floor);

// Pushes a big file and the small tree to `c`; prints <prefix>big<suffix>_mib_s
// and small1000<suffix>_ms. Each destination is removed first: nothing resumes.
void big_and_small(const mitosis::context& c, const std::string& work, std::uint64_t mib,
                   const std::string& suffix) {
  const auto big = work + "/big.bin", tree = work + "/small";
  make_file(big, mib << 20);
  make_small_tree(tree);
  (void) c.push_file(big, work + "/warm.bin"); // untimed: hashes the file once (cached by path)
  (void) std::system(("rm -f " + work + "/warm.bin").c_str());
  auto t = clock_type::now();
  auto r = c.push_file(big, work + "/big.out");
  const double big_ms = ms_since(t);
  if (r.fetched != (mib << 20))
    throw std::runtime_error("the big push fetched " + std::to_string(r.fetched) + " bytes");
  std::printf("big%s_mib_s=%.1f\n", suffix.c_str(), static_cast<double>(mib) * 1000.0 / big_ms);
  t = clock_type::now();
  auto s = c.push_tree(tree, work + "/small.out");
  std::printf("small1000%s_ms=%.1f\n", suffix.c_str(), ms_since(t));
  if (s.entries != 1011)
    throw std::runtime_error("the tree push wrote " + std::to_string(s.entries) + " entries");
  // The floor, written where the push wrote, after it (as the push, after
  // the earlier runs' trees were removed).
  std::printf("small1000_floor%s_ms=%.1f\n", suffix.c_str(),
              c.call(write_tree_floor, work + "/floor.out"));
  std::fflush(stdout);
}

int mode_local(mitosis::master& m, int argc, char** argv) {
  if (argc < 3)
    throw std::runtime_error("usage: local WORKDIR [big_mib]");
  auto c = m.local({.name = "files"});
  big_and_small(c, argv[2], argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1024, "_local");
  return 0;
}

int mode_ssh(mitosis::master& m, int argc, char** argv) {
  if (argc < 7)
    throw std::runtime_error("usage: ssh HOST PORT KEY KNOWN_HOSTS WORKDIR [big_mib]");
  const std::string work = argv[6];
  auto c = m.ssh(ssh_to(argv[2], std::atoi(argv[3]), argv[4], argv[5]),
                 {.name = "files", .cache_dir = work + "/bundle"});
  big_and_small(c, work, argc > 7 ? std::strtoull(argv[7], nullptr, 10) : 1024, "");
  return 0;
}

int mode_push20(mitosis::master& m, int argc, char** argv) {
  if (argc < 8)
    throw std::runtime_error("usage: push20 KEY KNOWN_HOSTS WORKDIR MIB BASTION HOST...");
  const std::string key = argv[2], kh = argv[3], work = argv[4];
  const std::uint64_t size = std::strtoull(argv[5], nullptr, 10) << 20;
  const auto bundle = work + "/bundle";
  auto bastion = m.ssh(ssh_to(argv[6], 22, key, kh), {.name = "bastion", .cache_dir = bundle});
  std::vector<mitosis::context> hosts;
  for (int i = 7; i < argc; ++i)
    hosts.push_back(m.ssh(ssh_to(argv[i], 22, key, kh),
                          {.name = argv[i], .via = bastion, .cache_dir = bundle}));
  const auto file = work + "/push20.bin";
  make_file(file, size);
  auto small = work + "/push20-warm.bin"; // untimed: first push, hashes nothing big
  make_file(small, 1 << 20);
  for (auto& f : mitosis::push(hosts, small, work + "/warm-{id}.bin"))
    (void) f.get();
  // The hosts share this machine's file system: a destination per host.
  auto& routes = m.runtime().routes();
  auto link = routes.next_hop(bastion.id());
  auto before = routes.connection(*link)->bytes_out;
  auto t = clock_type::now();
  for (auto& f : mitosis::push(hosts, file, work + "/push20-{id}.bin"))
    if (f.get().fetched != size)
      throw std::runtime_error("a host did not fetch the whole file");
  const double ms = ms_since(t);
  auto crossed = routes.connection(*link)->bytes_out - before;
  std::printf("push20_ms=%.1f\n", ms);
  std::printf("push20_upstream_ratio=%.3f\n", static_cast<double>(crossed) / static_cast<double>(size));
  std::printf("push20_hosts=%zu\n", hosts.size());
  std::fflush(stdout);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};  // in a started copy: serves, never returns
  return bench::run_modes("mitosis-bench-files", argc, argv,
                          {
       {"local", [&] { return mode_local(m, argc, argv); }},
       {"ssh", [&] { return mode_ssh(m, argc, argv); }},
       {"push20", [&] { return mode_push20(m, argc, argv); }}});
}
