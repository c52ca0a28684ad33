// Pushing files across real processes (docs/files.md): big files to a
// grandchild, trees, a fan-out whose bytes cross the master's link once,
// resumption after a killed intermediate, bounded memory, and files served
// by any context under per-peer rights.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "mitosis/mitosis.hpp"
#include "mitosis/actors/runtime.hpp"
#include "mitosis/serialization/sha256.hpp"
#include "test_functions.hpp"
#include "../sanitized.hpp"

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char tpl[] = "/tmp/mitosis-files-XXXXXX";
    path = ::mkdtemp(tpl);
  }
  ~temp_dir() {
    (void) std::system(("rm -rf " + path).c_str());
  }
};

// Writes `size` bytes of a pattern that differs per `seed` (not runs of
// one byte: a wrong offset shows).
void make_file(const std::string& path, std::uint64_t size, unsigned seed, mode_t mode = 0644) {
  std::ofstream out{path, std::ios::binary};
  std::string block(1 << 20, '\0');
  std::uint64_t x = seed * 2654435761u + 1;
  for (std::uint64_t done = 0; done < size;) {
    for (auto& c : block) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      c = static_cast<char>(x >> 56);
    }
    auto n = std::min<std::uint64_t>(block.size(), size - done);
    out.write(block.data(), static_cast<std::streamsize>(n));
    done += n;
  }
  out.close();
  ::chmod(path.c_str(), mode);
}

std::string sha_of(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  mitosis::serialization::sha256_stream h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return h.hex();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::uint64_t size_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// The bytes the master has written toward its direct child `c`.
std::uint64_t bytes_out_to(mitosis::master& m, const mitosis::context& c) {
  auto& r = m.runtime().routes();
  auto s = r.next_hop(c.id());
  REQUIRE(s.has_value());
  auto st = r.connection(*s);
  REQUIRE(st.has_value());
  return st->bytes_out;
}

// The part files a push left in `dir`.
std::vector<std::string> part_files_in(const std::string& dir) {
  std::vector<std::string> found;
  if (auto* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (std::string{e->d_name}.find(".mitosis-part.") != std::string::npos)
        found.push_back(dir + "/" + e->d_name);
    ::closedir(d);
  }
  return found;
}

// The part file a push left in `dir`, if any.
std::string part_file_in(const std::string& dir) {
  auto found = part_files_in(dir);
  return found.empty() ? std::string{} : found.back();
}

long rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

// A temp dir holding one file of `size` bytes at `file`, and a master.
struct file_and_master {
  temp_dir t;
  std::string file;
  mitosis::master m{0, nullptr};
  file_and_master(std::uint64_t size, unsigned seed) : file{t.path + "/f.bin"} {
    make_file(file, size, seed);
  }
};

} // namespace

TEST_CASE("files: a file bigger than max_frame reaches a grandchild whole, with its mode") {
  temp_dir t;
  const std::uint64_t size = sized_or(64u << 20, 24u << 20); // 3 to 8 frames' worth
  make_file(t.path + "/big.bin", size, 1, 0640);
  mitosis::master m{0, nullptr, {.max_frame = 8u << 20}};
  auto c = m.local({.name = "push.c"});
  auto gc = m.local({.name = "push.gc", .via = c});
  auto r = gc.push_file(t.path + "/big.bin", t.path + "/out/copy.bin");
  CHECK(r.entries == 1);
  CHECK(r.bytes == size);
  CHECK(r.fetched == size);
  CHECK(sha_of(t.path + "/out/copy.bin") == sha_of(t.path + "/big.bin"));
  CHECK(mode_of(t.path + "/out/copy.bin") == 0640);
  CHECK(part_file_in(t.path + "/out").empty());
  // An explicit mode; pushed again, the child's cache serves it.
  auto again = gc.push_file(t.path + "/big.bin", t.path + "/out/copy2.bin", {.mode = 0600});
  CHECK(again.fetched == size);
  CHECK(mode_of(t.path + "/out/copy2.bin") == 0600);
  CHECK(sha_of(t.path + "/out/copy2.bin") == sha_of(t.path + "/big.bin"));
}

TEST_CASE("files: a tree keeps its layout, contents and modes") {
  temp_dir t;
  const auto src = t.path + "/src";
  ::mkdir(src.c_str(), 0755);
  ::mkdir((src + "/etc").c_str(), 0750);
  ::mkdir((src + "/etc/deep").c_str(), 0700);
  ::mkdir((src + "/empty").c_str(), 0755);
  make_file(src + "/a.txt", 100, 2, 0644);
  make_file(src + "/etc/run.sh", 3000, 3, 0755);
  make_file(src + "/etc/deep/key", 32, 4, 0600);
  make_file(src + "/etc/big.bin", (2u << 20) + 17, 5, 0644); // fetched, not inline
  make_file(src + "/zero", 0, 6, 0644);
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "tree.c"});
  auto gc = m.local({.name = "tree.gc", .via = c});
  auto r = gc.push_tree(src, t.path + "/dst");
  CHECK(r.entries == 9);
  CHECK(r.fetched == (2u << 20) + 17);
  CHECK(std::system(("diff -r " + src + " " + t.path + "/dst").c_str()) == 0);
  for (auto [p, mode] : {std::pair{"", 0755}, {"/etc", 0750}, {"/etc/deep", 0700},
                         {"/etc/run.sh", 0755}, {"/etc/deep/key", 0600}, {"/a.txt", 0644}})
    CHECK(mode_of(t.path + "/dst" + p) == static_cast<mode_t>(mode));
}

TEST_CASE("files: small files go to part files of their own push, with owner and set-id bits") {
  temp_dir t;
  make_file(t.path + "/small.txt", 3000, 7, 06750);
  // What another push of the same content left (or is writing): the name a
  // fetched file's part would have, longer than the file, other bytes.
  const auto part = t.path + "/.out.txt.mitosis-part." + sha_of(t.path + "/small.txt").substr(0, 32);
  make_file(part, 5000, 8, 0600);
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "own.c"});
  auto r = c.push_file(t.path + "/small.txt", t.path + "/out.txt", {.uid = 1, .gid = 2});
  CHECK(r.bytes == 3000);
  CHECK(sha_of(t.path + "/out.txt") == sha_of(t.path + "/small.txt"));
  // The owner is set before the mode: a chown clears the set-id bits.
  CHECK(mode_of(t.path + "/out.txt") == 06750);
  struct stat st {};
  REQUIRE(::stat((t.path + "/out.txt").c_str(), &st) == 0);
  CHECK(st.st_uid == 1u);
  CHECK(st.st_gid == 2u);
  // The other part file is left as it was, and no part of ours remains.
  CHECK(sha_of(part) != sha_of(t.path + "/small.txt"));
  CHECK(part_files_in(t.path) == std::vector<std::string>{part});
}

TEST_CASE("files: a push to 10 grandchildren behind one child crosses the master's link once") {
  const std::uint64_t size = sized_or(32u << 20, 8u << 20);
  file_and_master fm{size, 7};
  auto& [t, file, m] = fm;
  auto c = m.local({.name = "fan.c"});
  std::vector<mitosis::context> gcs;
  for (int i = 0; i < 10; ++i)
    gcs.push_back(m.local({.name = "fan.gc" + std::to_string(i), .via = c}));
  const auto before = bytes_out_to(m, c);
  auto futures = m.push(gcs, t.path + "/f.bin", t.path + "/out-{id}/f.bin");
  for (auto& f : futures)
    CHECK(f.get().fetched == size);
  const auto crossed = bytes_out_to(m, c) - before;
  INFO("bytes over the master's link: " << crossed << " for a file of " << size);
  CHECK(crossed >= size);
  CHECK(static_cast<double>(crossed) <= 1.05 * static_cast<double>(size));
  const auto want = sha_of(t.path + "/f.bin");
  for (const auto& g : gcs)
    CHECK(sha_of(t.path + "/out-" + std::to_string(g.id()) + "/f.bin") == want);
}

TEST_CASE("files: bad pushes are typed errors naming the context") {
  temp_dir t;
  make_file(t.path + "/f.bin", 1000, 8);
  make_file(t.path + "/g.bin", 200 << 10, 9);
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "bad.c"});
  ::mkdir((t.path + "/ro").c_str(), 0555);
  for (auto src : {"/f.bin", "/g.bin"}) {
    try {
      c.push_file(t.path + src, "/proc/mitosis-no/such/dir/f");
      FAIL("no error");
    } catch (const mitosis::error& e) {
      CHECK(e.code() == mitosis::errc::file_error);
      CHECK(e.context() == "bad.c");
      CHECK(std::string{e.what()}.find("/proc/mitosis-no") != std::string::npos);
    }
  }
  CHECK_THROWS_AS(c.push_file(t.path + "/missing", t.path + "/x"), mitosis::error);
  CHECK_THROWS_AS(c.push_file(t.path + "/f.bin", "relative/path"), mitosis::error);
  // A tree whose second entry, a directory, cannot be made (a file has its
  // name): the small file written before it leaves no part file behind.
  ::mkdir((t.path + "/tree").c_str(), 0755);
  make_file(t.path + "/tree/a.txt", 100, 10);
  ::mkdir((t.path + "/tree/sub").c_str(), 0755);
  make_file(t.path + "/tree/sub/b.txt", 100, 11);
  ::mkdir((t.path + "/dst").c_str(), 0755);
  make_file(t.path + "/dst/sub", 10, 12);
  CHECK_THROWS_AS(c.push_tree(t.path + "/tree", t.path + "/dst"), mitosis::error);
  CHECK(part_files_in(t.path + "/dst").empty());
  CHECK(c.call(my_pid) > 0);
}

TEST_CASE("files: any context serves files, to the peers it names") {
  temp_dir t;
  make_file(t.path + "/shared.bin", (1u << 20) + 3, 10);
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "serve.a"});
  auto b = m.local({.name = "serve.b"});
  auto other = m.local({.name = "serve.other"});
  auto r = mitosis::policy::rules::defaults();
  r.sibling_routing = true;
  m.set_policy(r);
  CHECK(a.call(serve_here, t.path, std::vector<mitosis::context>{b}));
  // b, a sibling, fetches from a; `other` is refused by a's file rights.
  auto got = b.call(fetch_from, a, t.path + "/shared.bin", t.path + "/b.bin");
  CHECK(got.size() == (1u << 20) + 3);
  CHECK(sha_of(t.path + "/b.bin") == sha_of(t.path + "/shared.bin"));
  auto refused = other.call(fetch_from, a, t.path + "/shared.bin", t.path + "/o.bin");
  CHECK(refused.rfind("refused: ", 0) == 0);
  CHECK(refused.find("not served to context") != std::string::npos);
  CHECK(::access((t.path + "/o.bin").c_str(), F_OK) != 0);
  // The master's own rights are per peer too.
  m.serve_files(t.path, {b});
  CHECK(b.call(fetch_from, m.self(), t.path + "/shared.bin", t.path + "/b2.bin").size()
        == (1u << 20) + 3);
  CHECK(a.call(fetch_from, m.self(), t.path + "/shared.bin", t.path + "/a2.bin").rfind("refused: ", 0)
        == 0);
}

TEST_CASE("files: a push cut by a killed intermediate resumes from its part file") {
  const std::uint64_t size = sized_or(256u << 20, 64u << 20);
  file_and_master fm{size, 11};
  auto& [t, file, m] = fm;
  auto a = m.local({.name = "resume.a"});
  auto gc = m.local({.name = "resume.gc", .via = a});
  const auto out = t.path + "/out";
  auto first = std::async(std::launch::async, [&] {
    return gc.push_file(t.path + "/f.bin", out + "/f.bin", {.window = 2});
  });
  // Kill the intermediate once the target has some of the file.
  std::string part;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       std::chrono::steady_clock::now() < until;) {
    part = part_file_in(out);
    if (!part.empty() && size_of(part) >= (4u << 20))
      break;
    REQUIRE(first.wait_for(std::chrono::milliseconds(1)) == std::future_status::timeout);
  }
  REQUIRE(!part.empty());
  ::kill(m.pid_of(a), SIGKILL);
  CHECK_THROWS_AS(first.get(), mitosis::error);
  const auto left = size_of(part);
  INFO("part file after the kill: " << left << " bytes");
  CHECK(left > 0);
  CHECK(left < size);
  // A new path to the same place: the new target resumes from the part.
  auto a2 = m.local({.name = "resume.a2"});
  auto gc2 = m.local({.name = "resume.gc2", .via = a2});
  auto r = gc2.push_file(t.path + "/f.bin", out + "/f.bin");
  CHECK(r.resumed >= left);
  CHECK(r.fetched + r.resumed == size);
  CHECK(sha_of(out + "/f.bin") == sha_of(t.path + "/f.bin"));
  CHECK(part_file_in(out).empty());
}

TEST_CASE("files: pushing 256 MiB does not hold the file in the master's memory") {
  const std::uint64_t size = sized_or(256u << 20, 64u << 20);
  file_and_master fm{size, 12};
  auto& [t, file, m] = fm;
  auto c = m.local({.name = "rss.c"});
  const long base = rss_kib();
  std::atomic<long> peak{base};
  std::atomic<bool> done{false};
  std::thread sampler{[&] {
    while (!done) {
      peak = std::max(peak.load(), rss_kib());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }};
  auto r = c.push_file(t.path + "/f.bin", t.path + "/copy.bin");
  done = true;
  sampler.join();
  CHECK(r.fetched == size);
  const long growth_kib = peak - base;
  INFO("master RSS growth while pushing " << (size >> 20) << " MiB: " << growth_kib << " KiB");
  if (!sanitized_build) // ASan's quarantine holds freed chunks (sanitized.hpp)
    CHECK(growth_kib < 32 * 1024);
  CHECK(sha_of(t.path + "/copy.bin") == sha_of(t.path + "/f.bin"));
}
