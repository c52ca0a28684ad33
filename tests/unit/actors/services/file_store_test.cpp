// Unit tests of the file service: only registered paths, no '..', no
// symlink out of a registered directory, chunks bounded.
#include "mitosis/actors/services/file_store.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

#include "../../errc_string_maker.hpp"

using mitosis::errc;
using mitosis::actors::services::file_store;

namespace {

struct temp_tree {
  std::string root;
  std::string outside;
  temp_tree() {
    char tpl[] = "/tmp/mitosis-fs-XXXXXX";
    root = ::mkdtemp(tpl);
    char tpl2[] = "/tmp/mitosis-fs-out-XXXXXX";
    outside = ::mkdtemp(tpl2);
    std::ofstream{root + "/small.txt"} << "hello";
    std::ofstream big{root + "/big.bin"};
    for (int i = 0; i < 600 * 1024; ++i)
      big.put(static_cast<char>(i % 251));
    std::ofstream{outside + "/secret.txt"} << "secret";
    (void) ::symlink((outside + "/secret.txt").c_str(), (root + "/escape").c_str());
    (void) ::mkdir((root + "/sub").c_str(), 0700);
  }
  ~temp_tree() {
    (void) std::system(("rm -rf " + root + " " + outside).c_str());
  }
};

} // namespace

TEST_CASE("file_store: a served file is read in bounded chunks", "[file_store]") {
  temp_tree t;
  file_store fs;
  fs.serve(t.root);
  auto r = fs.read(t.root + "/small.txt", 0, 0);
  REQUIRE(r.has_value());
  CHECK(std::string(r->bytes.begin(), r->bytes.end()) == "hello");
  CHECK(r->size == 5);
  auto b = fs.read(t.root + "/big.bin", 0, 1 << 30);
  REQUIRE(b.has_value());
  CHECK(b->size == 600 * 1024);
  CHECK(b->bytes.size() == file_store::max_chunk);
  auto tail = fs.read(t.root + "/big.bin", 600 * 1024 - 10, 0);
  CHECK(tail->bytes.size() == 10);
  CHECK(tail->bytes[9] == static_cast<char>((600 * 1024 - 1) % 251));
  CHECK(fs.read(t.root + "/big.bin", 1 << 30, 0)->bytes.empty());
}

TEST_CASE("file_store: what is not served is refused", "[file_store]") {
  temp_tree t;
  file_store fs;
  fs.serve(t.root);
  CHECK(fs.read(t.outside + "/secret.txt", 0, 0).error().code == errc::file_not_allowed);
  CHECK(fs.read(t.root + "/../" + t.outside.substr(5) + "/secret.txt", 0, 0).error().code
        == errc::file_not_allowed);
  auto esc = fs.read(t.root + "/escape", 0, 0);
  CHECK(esc.error().code == errc::file_not_allowed);
  CHECK(esc.error().reason.find("resolves outside the served paths") != std::string::npos);
  CHECK(fs.read("relative/path", 0, 0).error().code == errc::file_not_allowed);
  CHECK(fs.read("/etc/passwd", 0, 0).error().code == errc::file_not_allowed);
  CHECK(fs.read(t.root + "/missing.txt", 0, 0).error().code == errc::file_error);
  CHECK(fs.read(t.root + "/sub", 0, 0).error().code == errc::file_error);
  file_store none;
  CHECK(none.read(t.root + "/small.txt", 0, 0).error().code == errc::file_not_allowed);
  CHECK_THROWS_AS(none.serve("/nonexistent/dir"), std::invalid_argument);
}

TEST_CASE("file_store: a FIFO in a served directory is refused at once", "[file_store]") {
  temp_tree t;
  REQUIRE(::mkfifo((t.root + "/pipe").c_str(), 0600) == 0);
  file_store fs;
  fs.serve(t.root);
  auto r = fs.read(t.root + "/pipe", 0, 0); // must not wait for a writer
  CHECK(r.error().code == errc::file_error);
  CHECK(r.error().reason.find("not a regular file") != std::string::npos);
}

TEST_CASE("file_store: a served file, a nested path and the root '/' are read", "[file_store]") {
  temp_tree t;
  std::ofstream{t.root + "/sub/deep.txt"} << "deep";
  file_store one;
  one.serve(t.root + "/small.txt");
  auto r = one.read(t.root + "/small.txt", 0, 0);
  REQUIRE(r);
  CHECK(std::string(r->bytes.begin(), r->bytes.end()) == "hello");
  CHECK(one.read(t.root + "/big.bin", 0, 0).error().code == errc::file_not_allowed);
  file_store dir;
  dir.serve(t.root);
  auto d = dir.read(t.root + "/sub/deep.txt", 0, 0);
  REQUIRE(d);
  CHECK(std::string(d->bytes.begin(), d->bytes.end()) == "deep");
  file_store all;
  all.serve("/");
  auto a = all.read(t.root + "/sub/deep.txt", 1, 0);
  REQUIRE(a);
  CHECK(std::string(a->bytes.begin(), a->bytes.end()) == "eep");
}

// Someone who can write inside a served tree swaps a directory for a link
// to a place outside it, again and again, while a peer reads a file below
// that directory: between realpath() and open() the path may lead out.
// Every read returns the served content or a refusal, never the outside.
TEST_CASE("file_store: a directory swapped for a link outside while it is read never leads out",
          "[file_store]") {
  temp_tree t;
  REQUIRE(::mkdir((t.root + "/d").c_str(), 0700) == 0);
  std::ofstream{t.root + "/d/f.txt"} << "inside";
  std::ofstream{t.outside + "/f.txt"} << "secret";
  file_store fs;
  fs.serve(t.root);
  std::atomic<bool> stop{false};
  std::thread swapper{[&] {
    const auto d = t.root + "/d", real = t.root + "/d.real";
    while (!stop.load()) {
      (void) ::rename(d.c_str(), real.c_str());
      (void) ::symlink(t.outside.c_str(), d.c_str());
      std::this_thread::yield();
      (void) ::unlink(d.c_str());
      (void) ::rename(real.c_str(), d.c_str());
      std::this_thread::yield();
    }
  }};
  int inside = 0, refused = 0, outside = 0;
  for (int i = 0; i < 20000; ++i) {
    auto r = fs.read(t.root + "/d/f.txt", 0, 0);
    if (!r)
      ++refused;
    else if (std::string(r->bytes.begin(), r->bytes.end()) == "inside")
      ++inside;
    else
      ++outside;
  }
  stop = true;
  swapper.join();
  INFO(inside << " served, " << refused << " refused");
  CHECK(outside == 0);
  CHECK(inside > 0);
}
