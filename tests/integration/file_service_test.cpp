// The file service across real processes: a child and a grandchild fetch
// what the master serves, in chunks, and nothing else.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

TEST_CASE("contexts fetch served files in chunks and nothing that is not served") {
  char tpl[] = "/tmp/mitosis-served-XXXXXX";
  std::string root = ::mkdtemp(tpl);
  std::string content;
  for (int i = 0; i < (3 << 20) + 12345; ++i)
    content += static_cast<char>('a' + i % 26);
  std::ofstream{root + "/data.bin", std::ios::binary} << content;
  std::ofstream{"/tmp/mitosis-not-served.txt"} << "no";
  (void) ::symlink("/tmp/mitosis-not-served.txt", (root + "/link").c_str());

  mitosis::master m{0, nullptr};
  m.serve_files(root);
  auto c = m.local({.name = "fetcher"});
  auto gc = m.local({.name = "fetcher.gc", .via = c});
  std::string local = root + "/copy.bin";
  CHECK(c.call(fetch_from, m.self(), root + "/data.bin", local) == content);
  CHECK(gc.call(fetch_from, m.self(), root + "/data.bin", local + "2") == content);

  auto refused = c.call(fetch_from, m.self(), std::string{"/etc/passwd"}, root + "/x");
  CHECK(refused.rfind("refused: ", 0) == 0);
  CHECK(refused.find("not a served path") != std::string::npos);
  CHECK(c.call(fetch_from, m.self(), root + "/link", root + "/y").find("resolves outside") != std::string::npos);
  CHECK(c.call(fetch_from, m.self(), root + "/../etc/passwd", root + "/z").find("'..' is not allowed")
        != std::string::npos);
  // The child serves nothing itself.
  CHECK(gc.call(fetch_from, c, root + "/data.bin", root + "/w").rfind("refused: ", 0) == 0);
  CHECK(::access((root + "/x").c_str(), F_OK) != 0); // nothing half-written is left
  (void) std::system(("rm -rf " + root + " /tmp/mitosis-not-served.txt").c_str());
}
