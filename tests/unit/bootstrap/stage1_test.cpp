// Unit tests of stage-1: the real script through a real /bin/sh (the shell
// method's process), our side of its dialog, and the quoting it relies on.
// The bundles here are small fake ones whose "ld.so" is a shell script
// that prints what it was started with.
#include "mitosis/bootstrap/stage1.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "mitosis/bootstrap/method.hpp"
#include "mitosis/bootstrap/process_method.hpp"
#include "mitosis/router/fd.hpp"
#include "mitosis/router/stream.hpp"
#include "mitosis/serialization/sha256.hpp"

#include "../errc_string_maker.hpp"

namespace fs = std::filesystem;
using mitosis::errc;
using namespace mitosis::bootstrap;
using Catch::Matchers::Contains;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char tpl[] = "/tmp/mitosis-stage1-XXXXXX";
    auto* p = ::mkdtemp(tpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const std::string& path) {
  std::ifstream f{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Packs a fake bundle in `dir`: ld.so prints its arguments and the two
// variables stage-1 sets, one per line; `padding` bytes of incompressible
// data make the archive that much larger.
bundle make_bundle(const std::string& dir, std::size_t padding = 0) {
  auto stage = dir + "/stage";
  fs::create_directories(stage);
  {
    std::ofstream ld{stage + "/ld.so"};
    ld << "#!/bin/sh\n"
          "for a;do printf 'ARG[%s]\\n' \"$a\";done\n"
          "printf 'ENV[%s][%s]\\n' \"$MITOSIS_AGENT\" \"$MITOSIS_BUNDLE\"\n";
  }
  fs::permissions(stage + "/ld.so", fs::perms::owner_all | fs::perms::group_read
                                      | fs::perms::group_exec | fs::perms::others_read
                                      | fs::perms::others_exec);
  std::ofstream{stage + "/exe"} << "not really a program\n";
  if (padding) {
    std::ifstream rnd{"/dev/urandom", std::ios::binary};
    std::vector<char> buf(padding);
    rnd.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::ofstream pad{stage + "/padding", std::ios::binary};
    pad.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
  bundle b;
  b.archive = dir + "/fake.tgz";
  auto cmd = "tar -czf '" + b.archive + "' -C '" + stage + "' .";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto data = slurp(b.archive);
  b.sha256 = mitosis::serialization::sha256_hex(data.data(), data.size());
  b.size = data.size();
  fs::remove_all(stage);
  return b;
}

struct outcome {
  stage1_result r;
  // What the target wrote after run_stage1 returned, until EOF.
  std::string rest;
  // Exit status of the target's shell (waitpid), -1 when unknown.
  int status = -1;
};

std::string read_to_eof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Runs stage-1 for `b` through the shell method. With `fsize_limit`, the
// target starts with that file size limit (and SIGXFSZ ignored): its
// writes fail part-way with EFBIG, as on a full disk.
outcome run(const bundle& b, const std::string& cache_dir, const std::string& arg0 = "mitosis:t",
            rlim_t fsize_limit = 0) {
  std::signal(SIGPIPE, SIG_IGN); // as the runtime does: a dead target is an error, not a signal
  method_spec s;
  s.kind = method_kind::shell;
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_xfsz = std::signal(SIGXFSZ, SIG_IGN);
  if (fsize_limit) {
    rlimit lim{fsize_limit, old.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
  }
  auto script = stage1_script(b, cache_dir, arg0);
  transport t;
  try {
    t = start_process(s, script);
  } catch (...) {
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_xfsz);
    throw;
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_xfsz);
  REQUIRE(t.pid > 0);
  outcome o;
  int wfd = t.wfd.get() >= 0 ? t.wfd.get() : t.rfd.get();
  o.r = run_stage1(t.rfd.get(), wfd, b, prompt_answerer{}, std::chrono::steady_clock::now()
                                                               + std::chrono::seconds{20},
                   {});
  if (o.r.code == errc::none) {
    o.rest = read_to_eof(t.rfd.get());
  } else {
    // As a dead hop would: our end goes away.
    t.rfd.reset();
    t.wfd.reset();
  }
  int st = 0;
  while (::waitpid(t.pid, &st, 0) < 0 && errno == EINTR) {
  }
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return o;
}

// What `cmd` (run by popen through /bin/sh -c) prints; it must exit 0.
std::string output_of(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  CHECK(::pclose(p) == 0);
  return out;
}

// What the fake bundle's ld.so prints when stage-1 execs it from bundle
// directory `B` with `arg0`.
std::string loader_output(const std::string& arg0, const std::string& B) {
  return "ARG[--argv0]\nARG[" + arg0 + "]\nARG[--library-path]\nARG[" + B + "]\nARG[" + B
         + "/exe]\nENV[1][" + B + "]\n";
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir))
    out.push_back(e.path().filename().string());
  return out;
}

} // namespace

// A failed dialog: bootstrap_failed naming every word of `said`, the
// script exited 1, and the cache holds nothing.
template <class Outcome>
void check_failed_clean(const Outcome& o, const std::string& cache,
                        std::initializer_list<const char*> said) {
  CHECK(o.r.code == errc::bootstrap_failed);
  for (auto* w : said)
    CHECK_THAT(o.r.reason, Contains(w));
  CHECK(o.status == 1);
  CHECK(entries(cache).empty());
}

TEST_CASE("stage-1 installs a bundle once and execs its loader with the quoted argv0") {
  temp_dir tmp;
  auto b = make_bundle(tmp.path);
  auto cache = tmp.path + "/cache dir with 'quotes' and $dollar";
  std::string arg0 = "mitosis:it's a \"name\" with `id` and $HOME";
  auto first = run(b, cache, arg0);
  REQUIRE(first.r.code == errc::none);
  CHECK(first.r.installed);
  auto B = cache + "/" + b.sha256;
  CHECK(first.rest == loader_output(arg0, B));
  CHECK(first.status == 0);
  CHECK(entries(cache) == std::vector<std::string>{b.sha256});
  CHECK(slurp(B + "/b.tgz") == slurp(b.archive));
  CHECK(fs::exists(B + "/exe"));
  CHECK((fs::status(cache).permissions() & (fs::perms::group_all | fs::perms::others_all))
        == fs::perms::none);
  // Installed: the second start neither asks nor receives the bundle.
  auto second = run(b, cache, arg0);
  REQUIRE(second.r.code == errc::none);
  CHECK_FALSE(second.r.installed);
  CHECK(second.rest == first.rest);
  CHECK(entries(cache) == std::vector<std::string>{b.sha256});
}

TEST_CASE("stage-1 without HOME installs in /tmp/mitosis-uid and creates nothing else") {
  temp_dir tmp;
  auto b = make_bundle(tmp.path);
  auto fallback = "/tmp/mitosis-" + std::to_string(::getuid());
  auto B = fallback + "/" + b.sha256;
  REQUIRE_FALSE(fs::exists(B));
  REQUIRE_FALSE(fs::exists("/nonexistent"));
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::unsetenv("HOME");
  outcome o;
  try {
    o = run(b, "");
  } catch (...) {
    if (!home.empty())
      ::setenv("HOME", home.c_str(), 1);
    throw;
  }
  if (!home.empty())
    ::setenv("HOME", home.c_str(), 1);
  CHECK(o.r.code == errc::none);
  CHECK(o.r.installed);
  CHECK_THAT(o.rest, Contains("ARG[" + B + "/exe]"));
  CHECK(fs::exists(B + "/ld.so"));
  // Neither a home of its own making nor a leftover beside the bundle.
  CHECK_FALSE(fs::exists("/nonexistent"));
  for (auto& n : entries(fallback))
    CHECK((n.find(b.sha256) == std::string::npos || n == b.sha256));
  std::error_code ec;
  fs::remove_all(B, ec);
}

TEST_CASE("stage-1 refuses a bundle whose hash does not match and installs nothing") {
  temp_dir tmp;
  auto b = make_bundle(tmp.path);
  auto good = b.sha256;
  b.sha256 = std::string(64, 'a');
  REQUIRE(b.sha256 != good);
  auto cache = tmp.path + "/cache";
  auto o = run(b, cache);
  CHECK(o.r.code == errc::bootstrap_failed);
  CHECK_THAT(o.r.reason, Contains("hash mismatch"));
  CHECK(o.r.installed); // it was sent, then refused
  CHECK(o.status == 1);
  CHECK(entries(cache).empty()); // neither <hash> nor .<hash>.<pid>[.z]
  // Nothing poisoned: the same file under its real hash installs.
  b.sha256 = good;
  auto ok = run(b, cache);
  CHECK(ok.r.code == errc::none);
  CHECK(entries(cache) == std::vector<std::string>{good});
}

TEST_CASE("stage-1 reports a short transfer when the sender stops early and leaves nothing") {
  temp_dir tmp;
  auto b = make_bundle(tmp.path, 300 * 1024);
  b.size += 4096; // promises more than the file holds
  auto cache = tmp.path + "/cache";
  // Our side shuts the stream for writing: the script notices and says so.
  check_failed_clean(run(b, cache), cache, {"shrank while sending", "short bundle"});
}

TEST_CASE("stage-1 cleans up when the hop dies in the middle of the transfer") {
  temp_dir tmp;
  auto b = make_bundle(tmp.path, 300 * 1024);
  auto cache = tmp.path + "/cache";
  std::signal(SIGPIPE, SIG_IGN);
  method_spec s;
  s.kind = method_kind::shell;
  auto t = start_process(s, stage1_script(b, cache, "mitosis:t"));
  // Our own side of the dialog: wait for MXNEED, send half, then vanish.
  std::string said;
  char c = 0;
  while (said.find("MXNEED\n") == std::string::npos && ::read(t.rfd.get(), &c, 1) == 1)
    said += c;
  REQUIRE(said == "MXNEED\n");
  auto data = slurp(b.archive);
  REQUIRE(mitosis::router::write_fully(t.rfd.get(), data.data(), data.size() / 2));
  // Mid-transfer the cache holds only the temporary dir and file.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (entries(cache).size() < 2 && std::chrono::steady_clock::now() < deadline)
    ::usleep(10000);
  auto mid = entries(cache);
  std::sort(mid.begin(), mid.end());
  REQUIRE(mid.size() == 2);
  CHECK(mid[0].rfind("." + b.sha256 + ".", 0) == 0);
  CHECK(mid[1] == mid[0] + ".z");
  t.rfd.reset();
  int st = 0;
  while (::waitpid(t.pid, &st, 0) < 0 && errno == EINTR) {
  }
  CHECK((WIFEXITED(st) || WIFSIGNALED(st)));
  CHECK(entries(cache).empty());
}

TEST_CASE("stage-1 reports a target that cannot write the bundle as disk full and cleans up") {
  temp_dir tmp;
  auto b = make_bundle(tmp.path, 1024 * 1024);
  REQUIRE(b.size > 1024 * 1024);
  auto cache = tmp.path + "/cache";
  // The target's writes stop at 64 KiB while we still have ~1 MiB to send.
  check_failed_clean(run(b, cache, "mitosis:t", 64 * 1024), cache, {"disk full", "cannot write"});
}

TEST_CASE("sh_quote survives a round trip through sh") {
  std::vector<std::string> nasty = {"",
                                    "plain",
                                    "two words",
                                    "it's",
                                    "''",
                                    "'\\''",
                                    "\"double\"",
                                    "$HOME ${PATH} $(id -u) $$",
                                    "`id`",
                                    "back\\slash\\",
                                    "semi;colon && pipe | amp & star * ? [a]",
                                    "new\nline\ttab",
                                    "~user #hash !bang",
                                    "-n"};
  for (const auto& s : nasty)
    CHECK(output_of("printf '%s' " + sh_quote(s)) == s);
}

TEST_CASE("the stage-1 script stays under 1500 bytes") {
  bundle b;
  b.archive = "/tmp/x.tgz";
  b.sha256 = std::string(64, 'f');
  b.size = 12345678901ULL;
  auto plain = stage1_script(b, "", "mitosis:ssh:root@host.example.org:22.17");
  auto custom = stage1_script(b, "/var/cache/mitosis-bundles", "mitosis:worker-17", true);
  INFO(plain);
  CHECK(plain.size() < 1500);
  CHECK(custom.size() < 1500);
  // Both are POSIX sh that parses.
  for (const auto& s : {plain, custom}) {
    auto cmd = "sh -n -c " + sh_quote(s);
    CHECK(std::system(cmd.c_str()) == 0);
  }
}

TEST_CASE("stage-1 refuses a cache directory that is a symlink") {
  // Someone else's symlink at the cache path could be re-pointed between
  // the check and the exec: it is never used, even towards a dir of ours.
  temp_dir tmp;
  auto b = make_bundle(tmp.path);
  auto real = tmp.path + "/real";
  REQUIRE(::mkdir(real.c_str(), 0700) == 0);
  auto link = tmp.path + "/link";
  REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  auto o = run(b, link);
  CHECK(o.r.code == errc::bootstrap_failed);
  CHECK_THAT(o.r.reason, Contains("no writable cache directory"));
  CHECK(entries(real).empty());
}

namespace {

// Runs `/bin/sh -c <quoted script>` the way sshd runs a command for a user
// whose login shell is tcsh (`tcsh -c <command>`), or su does
// (`-tcsh -c "exec /bin/sh -c ..."`, a login shell), with HOME in `home`,
// and runs our side of stage-1 against it.
// Runs `prog -c command` (argv[0] `arg0`, HOME `home` unless empty) with a
// socketpair as stdin and stdout; returns its pid and our end in `ours`.
pid_t run_on_socketpair(const char* prog, const char* arg0, const std::string& command,
                        const std::string& home, mitosis::router::unique_fd& ours) {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(sv[1], 0);
    ::dup2(sv[1], 1);
    if (!home.empty())
      ::setenv("HOME", home.c_str(), 1);
    ::execl(prog, arg0, "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(sv[1]);
  ours.reset(sv[0]);
  return pid;
}

outcome run_under_tcsh(const bundle& b, const std::string& cache, const std::string& arg0,
                       bool as_su, const std::string& home) {
  std::signal(SIGPIPE, SIG_IGN);
  auto script = stage1_script(b, cache, arg0);
  auto command = std::string{as_su ? "exec " : ""} + "/bin/sh -c " + sh_quote(script);
  mitosis::router::unique_fd fd;
  pid_t pid = run_on_socketpair("/usr/bin/tcsh", as_su ? "-tcsh" : "tcsh", command, home, fd);
  outcome o;
  o.r = run_stage1(fd.get(), fd.get(), b, prompt_answerer{},
                   std::chrono::steady_clock::now() + std::chrono::seconds{20}, {});
  if (o.r.code == errc::none)
    o.rest = read_to_eof(fd.get());
  fd.reset();
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return o;
}

} // namespace

TEST_CASE("stage-1 runs under a tcsh login shell, as sshd and su hand it over") {
  REQUIRE(fs::exists("/usr/bin/tcsh")); // scripts/setup.sh installs it
  temp_dir tmp;
  auto b = make_bundle(tmp.path);
  auto cache = tmp.path + "/cache dir with 'quotes', $dollar and a bang!";
  std::string arg0 = "mitosis:it's a \"name\" with `id`, $HOME, !bang and a!b";
  const bool as_su = GENERATE(false, true);
  INFO((as_su ? "su: -tcsh -c 'exec /bin/sh -c ...'" : "sshd: tcsh -c '/bin/sh -c ...'"));
  auto first = run_under_tcsh(b, cache, arg0, as_su, tmp.path);
  INFO(first.r.reason);
  REQUIRE(first.r.code == errc::none);
  CHECK(first.r.installed);
  auto B = cache + "/" + b.sha256;
  CHECK(first.rest == loader_output(arg0, B));
  CHECK(first.status == 0);
  auto second = run_under_tcsh(b, cache, arg0, as_su, tmp.path);
  REQUIRE(second.r.code == errc::none);
  CHECK_FALSE(second.r.installed);
  CHECK(second.rest == first.rest);
}

TEST_CASE("sh_quote survives tcsh and the /bin/sh below it") {
  REQUIRE(fs::exists("/usr/bin/tcsh"));
  for (std::string s : {"plain", "it's", "'\\''", "\"double\"", "$HOME ${PATH} $(id -u) $$",
                        "`id`", "back\\slash\\", "semi;colon && pipe | amp & star * ? [a]",
                        "~user #hash !bang a!b \\!c !", "-n"}) {
    // What sshd runs for a tcsh user: tcsh -c "<command>".
    auto inner = "printf '%s' " + sh_quote(s);
    CHECK(output_of("tcsh -c " + sh_quote("/bin/sh -c " + sh_quote(inner))) == s);
  }
}

namespace {

// A fake su on a socketpair: prints a German prompt, reads the answer,
// and refuses it in German, saying what it read.
stage1_result german_su(const prompt_answerer& prompts) {
  mitosis::router::unique_fd fd;
  pid_t pid = run_on_socketpair(
    "/bin/sh", "sh",
    "printf 'Passwort: '; read pw; echo \"su: Authentifizierungsfehler (read $pw)\"; exit 1", "", fd);
  auto r = run_stage1(fd.get(), fd.get(), bundle{}, prompts,
                      std::chrono::steady_clock::now() + std::chrono::seconds{10}, {});
  fd.reset();
  ::waitpid(pid, nullptr, 0);
  return r;
}

} // namespace

TEST_CASE("become prompts and failures: extra texts make a prompt and a refusal") {
  auto r = german_su({-1, "geheim", "su", {"PASSWORT"}, {"authentifizierungsfehler"}});
  CHECK(r.code == errc::auth_failed);
  CHECK_THAT(r.reason, Contains("su: wrong password") && Contains("read geheim"));
  // Without the failure text, the same refusal is only a failed stage-1.
  auto plain = german_su({-1, "geheim", "su", {"passwort"}, {}});
  CHECK(plain.code == errc::bootstrap_failed);
  CHECK_THAT(plain.reason, Contains("read geheim"));
}
