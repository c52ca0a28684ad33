// Unit tests of the file service: only registered paths, no '..', no
// symlink out of a registered directory, chunks bounded.
#include "mitosis/actors/file_service.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "../errc_string_maker.hpp"

using mitosis::errc;
using mitosis::actors::file_service;

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

TEST_CASE("file_service: a served file is read in bounded chunks", "[file_service]") {
  temp_tree t;
  file_service fs;
  fs.serve(t.root);
  auto r = fs.read(t.root + "/small.txt", 0, 0);
  REQUIRE(r.code == errc::none);
  CHECK(std::string(r.chunk.bytes.begin(), r.chunk.bytes.end()) == "hello");
  CHECK(r.chunk.size == 5);
  auto b = fs.read(t.root + "/big.bin", 0, 1 << 30);
  REQUIRE(b.code == errc::none);
  CHECK(b.chunk.size == 600 * 1024);
  CHECK(b.chunk.bytes.size() == file_service::max_chunk);
  auto tail = fs.read(t.root + "/big.bin", 600 * 1024 - 10, 0);
  CHECK(tail.chunk.bytes.size() == 10);
  CHECK(tail.chunk.bytes[9] == static_cast<char>((600 * 1024 - 1) % 251));
  CHECK(fs.read(t.root + "/big.bin", 1 << 30, 0).chunk.bytes.empty());
}

TEST_CASE("file_service: what is not served is refused", "[file_service]") {
  temp_tree t;
  file_service fs;
  fs.serve(t.root);
  CHECK(fs.read(t.outside + "/secret.txt", 0, 0).code == errc::file_not_allowed);
  CHECK(fs.read(t.root + "/../" + t.outside.substr(5) + "/secret.txt", 0, 0).code
        == errc::file_not_allowed);
  auto esc = fs.read(t.root + "/escape", 0, 0);
  CHECK(esc.code == errc::file_not_allowed);
  CHECK(esc.reason.find("resolves outside the served paths") != std::string::npos);
  CHECK(fs.read("relative/path", 0, 0).code == errc::file_not_allowed);
  CHECK(fs.read("/etc/passwd", 0, 0).code == errc::file_not_allowed);
  CHECK(fs.read(t.root + "/missing.txt", 0, 0).code == errc::file_error);
  CHECK(fs.read(t.root + "/sub", 0, 0).code == errc::file_error);
  file_service none;
  CHECK(none.read(t.root + "/small.txt", 0, 0).code == errc::file_not_allowed);
  CHECK_THROWS_AS(none.serve("/nonexistent/dir"), std::invalid_argument);
}

TEST_CASE("file_service: a FIFO in a served directory is refused at once", "[file_service]") {
  temp_tree t;
  REQUIRE(::mkfifo((t.root + "/pipe").c_str(), 0600) == 0);
  file_service fs;
  fs.serve(t.root);
  auto r = fs.read(t.root + "/pipe", 0, 0); // must not wait for a writer
  CHECK(r.code == errc::file_error);
  CHECK(r.reason.find("not a regular file") != std::string::npos);
}
