// Stage-1 methods on this host: the bundle installed by a plain shell, a
// busybox-only chroot, network namespaces, and the errors of each.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "mitosis/mitosis.hpp"
#include "mitosis/bootstrap/bundle.hpp"
#include "test_functions.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A fresh cache directory for one test (removed afterwards).
struct temp_cache {
  std::string path;
  temp_cache() {
    char tmpl[] = "/tmp/mitosis-test-cache-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_cache() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

} // namespace

TEST_CASE("shell installs the bundle once and the second start reuses it") {
  mitosis::master m{0, nullptr};
  temp_cache cache;
  auto a = m.shell({.name = "sh1", .cache_dir = cache.path + "/c"});
  CHECK(a.call(add, 2, 3) == 5);
  auto dir = a.call(my_bundle_dir);
  const auto& b = mitosis::bootstrap::own_bundle();
  CHECK(dir == cache.path + "/c/" + b.sha256);
  CHECK(fs::exists(dir + "/b.tgz"));
  CHECK(fs::exists(dir + "/ld.so"));
  CHECK((fs::status(cache.path + "/c").permissions() & fs::perms::group_all) == fs::perms::none);
  auto t1 = fs::last_write_time(dir);
  auto b2 = m.shell({.name = "sh2", .cache_dir = cache.path + "/c"});
  CHECK(b2.call(my_bundle_dir) == dir);
  CHECK(fs::last_write_time(dir) == t1);
  // A copy running from the bundle starts its own local child from it.
  auto g = m.local({.name = "sh-grandchild", .via = b2});
  CHECK(g.call(my_bundle_dir) == dir);
  CHECK(g.call(echo, "deep") == "deep");
}
