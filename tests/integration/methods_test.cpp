// Stage-1 methods on this host: the bundle installed by a plain shell, a
// busybox-only chroot, network namespaces, and the errors of each.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "mitosis/mitosis.hpp"
#include "mitosis/bootstrap/bundle.hpp"
#include "temp_dir.hpp"
#include "test_functions.hpp"

extern char** environ;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using mitosis::errc;

namespace {

// chroot, namespaces and mounts need root: without it these tests fail
// (they are not skipped).
void require_root() {
  INFO("this test needs root (chroot, setns, mount)");
  REQUIRE(::geteuid() == 0);
}

// A tmpfs mounted on a fresh directory; unmounted and removed afterwards.
struct tmpfs_mount {
  temp_dir dir;
  explicit tmpfs_mount(const std::string& options) : dir{} {
    INFO("mount -t tmpfs -o " << options << " " << dir.path);
    REQUIRE(::mount("none", dir.path.c_str(), "tmpfs", 0, options.c_str()) == 0);
  }
  ~tmpfs_mount() {
    ::umount2(dir.path.c_str(), MNT_DETACH);
  }
};

// Lists everything below `root` (relative paths), for messages and checks.
std::vector<std::string> tree(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec))
    out.push_back(it->path().lexically_relative(root).string());
  return out;
}

// A root file system of one file: a copy of Debian's static busybox, the
// applets stage-1 uses as symlinks to it, /tmp and /dev/null.
void make_busybox_root(const std::string& root) {
  REQUIRE(fs::exists("/bin/busybox"));
  fs::create_directories(root + "/bin");
  fs::copy_file("/bin/busybox", root + "/bin/busybox");
  fs::permissions(root + "/bin/busybox", fs::perms::owner_all | fs::perms::group_read
                                           | fs::perms::group_exec | fs::perms::others_read
                                           | fs::perms::others_exec);
  for (auto applet : {"sh", "mkdir", "chmod", "head", "wc", "sha256sum", "tar", "gzip", "mv",
                      "rm", "id", "cat", "[", "test", "ls"})
    fs::create_symlink("busybox", root + "/bin/" + applet);
  fs::create_directories(root + "/tmp");
  fs::permissions(root + "/tmp", fs::perms::all | fs::perms::sticky_bit);
  fs::create_directories(root + "/dev");
  REQUIRE(::mknod((root + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
}

// The inode number in "net:[4026532008]".
ino_t ns_inode(const std::string& link) {
  auto open = link.find('[');
  auto close = link.find(']');
  REQUIRE(open != std::string::npos);
  REQUIRE(close != std::string::npos);
  return static_cast<ino_t>(std::stoull(link.substr(open + 1, close - open - 1)));
}

std::string read_link(const std::string& path) {
  std::error_code ec;
  auto target = fs::read_symlink(path, ec);
  return ec ? std::string{"?"} : target.string();
}

// `ip netns add` a namespace named after this process; deleted afterwards.
struct netns_guard {
  std::string name = "mitosis-test-ns-" + std::to_string(::getpid());
  netns_guard() {
    REQUIRE(std::system(("ip netns add " + name).c_str()) == 0);
  }
  ~netns_guard() {
    (void)std::system(("ip netns delete " + name).c_str());
  }
};

// A process in a mount namespace of its own where a tmpfs on `dir` holds
// a file "marker" that nobody outside sees; killed afterwards.
struct mount_ns_process {
  pid_t pid = 0;
  std::string dir;
  std::string marker_text = "only in the other mount namespace\n";
  explicit mount_ns_process(const std::string& d) : dir{d} {
    std::string script = "mount -t tmpfs -o size=64k none \"$0\" && printf 'only in the other "
                         "mount namespace\\n' > \"$0/marker\" && exec sleep 120";
    std::vector<std::string> args{"unshare", "-m", "--propagation", "private", "sh", "-c",
                                  script, dir};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(::posix_spawnp(&pid, "unshare", nullptr, nullptr, argv.data(), environ) == 0);
    // Ready when its view of dir has the marker (through /proc/PID/root).
    auto seen = "/proc/" + std::to_string(pid) + "/root" + dir + "/marker";
    auto until = std::chrono::steady_clock::now() + 10s;
    int st = 0;
    while (!fs::exists(seen) && std::chrono::steady_clock::now() < until) {
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = 0;
        FAIL("the unshare helper exited (status " << st << ")");
      }
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(fs::exists(seen));
  }
  ~mount_ns_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

// The error's code by its message (failures read as prose).
std::string code_of(const mitosis::connect_error& e) {
  return mitosis::to_string(e.code());
}

// Runs `start`, which must throw connect_error; returns it.
template <class F>
mitosis::connect_error expect_connect_error(F&& start) {
  try {
    start();
  } catch (const mitosis::connect_error& e) {
    return e;
  }
  FAIL("the context started");
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("shell installs the bundle once and the second start reuses it") {
  mitosis::master m{0, nullptr};
  temp_dir cache;
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

TEST_CASE("a chroot holding only a static busybox runs a copy from the installed bundle") {
  require_root();
  temp_dir root{"/tmp/mitosis-test-chroot-"};
  make_busybox_root(root.path);
  // No libraries and no loader: what runs must come from the bundle.
  for (auto d : {"/lib", "/lib64", "/lib32", "/usr", "/etc", "/proc"})
    CHECK_FALSE(fs::exists(root.path + d));
  auto before = tree(root.path);
  CHECK(std::count_if(before.begin(), before.end(), [&](const std::string& p) {
          return fs::is_regular_file(fs::symlink_status(root.path + "/" + p));
        }) == 1); // bin/busybox

  mitosis::master m{0, nullptr};
  auto c = m.chroot(root.path, {.name = "busybox-chroot"});
  CHECK(c.call(add, 20, 22) == 42);
  CHECK(c.call(echo, std::string{"inside busybox"}) == "inside busybox");
  const auto& b = mitosis::bootstrap::own_bundle();
  auto dir = c.call(my_bundle_dir);
  INFO("bundle dir inside the chroot: " << dir);
  CHECK((dir == "/root/.cache/mitosis/" + b.sha256 || dir == "/tmp/mitosis-0/" + b.sha256));
  CHECK(fs::is_regular_file(root.path + dir + "/ld.so"));
  CHECK(fs::is_regular_file(root.path + dir + "/exe"));
  CHECK(fs::file_size(root.path + dir + "/b.tgz") == b.size);
  // Every shared object in the chroot is one the bundle brought.
  auto after = tree(root.path);
  auto in_bundle = dir.substr(1) + "/";
  int libs = 0;
  for (const auto& p : after) {
    if (p.find(".so") == std::string::npos)
      continue;
    INFO(p);
    CHECK(p.rfind(in_bundle, 0) == 0);
    ++libs;
  }
  CHECK(libs >= 2); // ld.so and at least libc
  CHECK_FALSE(fs::exists(root.path + "/lib"));
  CHECK_FALSE(fs::exists(root.path + "/usr"));
  // There is no /proc in there, as seen from inside.
  CHECK_THROWS_AS(c.call(read_text, std::string{"/proc/self/status"}), mitosis::call_error);

  // The copy in the chroot starts its own copy, from its installed bundle.
  auto g = m.local({.name = "busybox-grandchild", .via = c});
  CHECK(g.call(add, 1, 2) == 3);
  CHECK(g.call(echo, std::string{"deeper"}) == "deeper");
  CHECK(g.call(my_bundle_dir) == dir);
  CHECK(g.call(my_ppid) == c.call(my_pid));
}

TEST_CASE("setns enters a network namespace made by ip netns") {
  require_root();
  netns_guard ns;
  temp_dir cache;
  mitosis::master m{0, nullptr};
  auto by_name = m.setns({.net = ns.name}, {.name = "netns-by-name", .cache_dir = cache.path});
  auto theirs = by_name.call(ns_of, std::string{"net"});
  auto ours = ns_of("net");
  INFO("context: " << theirs << " master: " << ours);
  CHECK(theirs.rfind("net:[", 0) == 0);
  CHECK(theirs != ours);
  struct stat st {};
  REQUIRE(::stat(("/run/netns/" + ns.name).c_str(), &st) == 0);
  CHECK(ns_inode(theirs) == st.st_ino);
  // Only the network namespace changed.
  CHECK(by_name.call(ns_of, std::string{"mnt"}) == ns_of("mnt"));
  CHECK(by_name.call(add, 2, 2) == 4);
  // The same namespace by path.
  auto by_path = m.setns({.net = "/run/netns/" + ns.name},
                         {.name = "netns-by-path", .cache_dir = cache.path});
  CHECK(by_path.call(ns_of, std::string{"net"}) == theirs);
}

TEST_CASE("setns enters the mount namespace of another process") {
  require_root();
  temp_dir dir{"/tmp/mitosis-test-mntns-"};
  temp_dir cache;
  mount_ns_process other{dir.path};
  auto marker = dir.path + "/marker";
  REQUIRE_FALSE(fs::exists(marker)); // the master cannot see it
  auto their_mnt = read_link("/proc/" + std::to_string(other.pid) + "/ns/mnt");
  REQUIRE(their_mnt != ns_of("mnt"));

  mitosis::master m{0, nullptr};
  auto by_path = m.setns({.mount = "/proc/" + std::to_string(other.pid) + "/ns/mnt"},
                         {.name = "mntns-by-path", .cache_dir = cache.path});
  CHECK(by_path.call(read_text, marker) == other.marker_text);
  CHECK(by_path.call(ns_of, std::string{"mnt"}) == their_mnt);
  CHECK(by_path.call(ns_of, std::string{"net"}) == ns_of("net"));

  auto by_pid = m.setns({.pid = other.pid}, {.name = "mntns-by-pid", .cache_dir = cache.path});
  CHECK(by_pid.call(read_text, marker) == other.marker_text);
  CHECK(by_pid.call(ns_of, std::string{"mnt"}) == their_mnt);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("chroot into a directory without /bin/sh fails as bootstrap_failed naming /bin/sh") {
  require_root();
  temp_dir empty{"/tmp/mitosis-test-empty-"};
  mitosis::master m{0, nullptr};
  auto e = expect_connect_error([&] { m.chroot(empty.path, {.name = "no-sh"}); });
  CHECK(code_of(e) == mitosis::to_string(errc::bootstrap_failed));
  CHECK_THAT(e.what(), Contains("/bin/sh"));
  CHECK_THAT(e.what(), Contains("no-sh"));
  CHECK(tree(empty.path).empty());
  // The master is unharmed.
  CHECK(m.local({.name = "after-no-sh"}).call(add, 1, 1) == 2);
}

TEST_CASE("stage-1 without a writable cache directory fails as bootstrap_failed") {
  require_root();
  mitosis::master m{0, nullptr};
  SECTION("a path under /proc") {
    auto e = expect_connect_error(
      [&] { m.shell({.name = "proc-cache", .cache_dir = "/proc/forbidden"}); });
    CHECK(code_of(e) == mitosis::to_string(errc::bootstrap_failed));
    CHECK_THAT(e.what(), Contains("no writable cache directory"));
    CHECK_FALSE(fs::exists("/proc/forbidden"));
  }
  SECTION("a path on a read-only file system") {
    tmpfs_mount ro{"ro,size=64k"};
    auto e = expect_connect_error(
      [&] { m.shell({.name = "ro-cache", .cache_dir = ro.dir.path + "/c"}); });
    CHECK(code_of(e) == mitosis::to_string(errc::bootstrap_failed));
    CHECK_THAT(e.what(), Contains("no writable cache directory"));
    CHECK(tree(ro.dir.path).empty());
  }
  SECTION("a directory owned by someone else") {
    temp_dir cache;
    auto theirs = cache.path + "/theirs";
    fs::create_directory(theirs);
    REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
    auto e =
      expect_connect_error([&] { m.shell({.name = "foreign-cache", .cache_dir = theirs}); });
    CHECK(code_of(e) == mitosis::to_string(errc::bootstrap_failed));
    CHECK_THAT(e.what(), Contains("no writable cache directory"));
    CHECK(tree(theirs).empty());
  }
}

TEST_CASE(
  "a full disk while installing fails as bootstrap_failed and leaves nothing half-installed") {
  require_root();
  tmpfs_mount small{"size=512k,mode=0700"};
  const auto& b = mitosis::bootstrap::own_bundle();
  REQUIRE(b.size > 512 * 1024);
  mitosis::master m{0, nullptr};
  auto e = expect_connect_error(
    [&] { m.shell({.name = "full-disk", .cache_dir = small.dir.path + "/c"}); });
  CHECK(code_of(e) == mitosis::to_string(errc::bootstrap_failed));
  CHECK_THAT(e.what(), Contains("disk full"));
  CHECK_THAT(e.what(), Contains("cannot write"));
  // Stage-1 made its cache directory; nothing of the bundle stays.
  auto left = tree(small.dir.path);
  INFO("left on the tmpfs:" << [&] {
    std::string s;
    for (auto& p : left)
      s += " " + p;
    return s;
  }());
  CHECK(left == std::vector<std::string>{"c"});
  for (const auto& p : left) {
    CHECK(p.find(b.sha256) == std::string::npos);
  }
  // The space is free again.
  CHECK(fs::space(small.dir.path).available >= 500 * 1024);
}

TEST_CASE("sudo and su from root take set_home, login and preserve_env, and doas refuses login") {
  require_root();
  INFO("this test runs the real sudo and su (scripts/setup.sh installs them)");
  REQUIRE(::access("/usr/bin/sudo", X_OK) == 0);
  REQUIRE(::access("/usr/bin/su", X_OK) == 0);
  mitosis::master m{0, nullptr};
  // -E -H: the environment is kept but HOME is the target's.
  auto home = m.sudo({.user = "root", .preserve_env = true, .set_home = true},
                     {.name = "sudo-H", .connect_timeout = 20s});
  CHECK(home.call(my_uid) == 0);
  CHECK(home.call(env_of, "HOME") == "/root");
  // -i: through root's login shell, which sudo escapes the command for.
  auto login = m.sudo({.user = "root", .login = true}, {.name = "sudo-i", .connect_timeout = 20s});
  CHECK(login.call(add, 2, 2) == 4);
  CHECK(login.call(env_of, "HOME") == "/root");
  auto su = m.su({.user = "root", .login = true}, {.name = "su-l", .connect_timeout = 20s});
  CHECK(su.call(my_uid) == 0);
  CHECK(su.call(env_of, "HOME") == "/root");
  try {
    m.doas({.user = "root", .login = true}, {.name = "doas-login"});
    FAIL("doas started with login");
  } catch (const mitosis::connect_error& e) {
    INFO(e.what());
    CHECK(e.code() == errc::spawn_failed);
    CHECK(e.context() == "doas-login");
    CHECK_THAT(e.what(), Contains("login"));
  }
}
