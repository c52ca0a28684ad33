// mitosis-bench-ssh: the ssh figures of docs/benchmarks.md (Targets),
// printed as key=value lines for bench/run.sh ssh. One binary, four modes:
//
//   loopback PORT PROXY_PORT KEY KNOWN_HOSTS WORKDIR [starts] [rtt_calls] [mib_calls]
//     against the sshd on 127.0.0.1:PORT that bench/run.sh started:
//     start_cached_ms   m.ssh() until it returns, bundle already installed
//                       (median over `starts` fresh contexts)
//     start_cold_ms     the same with an empty cache dir each time (the
//                       bundle crosses the wire, is checked and unpacked)
//     rtt_us            echo(64-byte string) round trip over one ssh hop
//     rtt2_us           the same over two hops (second started by the first)
//     rtt_busy_us       rtt_us again with 2 * starts more idle ssh contexts
//     rtt_stalls        calls (of every rtt run) that took over 100 ms
//     ssh_chain_one_rtt_us, ssh_chain_chain100_us, ssh_chain_seq100_us
//                       over the one hop: one call; 100 pipelined no-reply
//                       calls of a call_chain and a final call; 100 calls
//                       one after another (medians)
//     mib_s             sink(1 MiB mitosis::blob) throughput over one hop
//     cached_start_bytes TCP payload bytes (both directions) from connect
//                       until m.ssh() returned, counted by a forwarding
//                       proxy on 127.0.0.1:PROXY_PORT
//
//   openssh PORT PROXY_PORT KEY KNOWN_HOSTS [runs] [rtt_calls] [cat_mib]
//     the OpenSSH client (/usr/bin/ssh) against the same sshd:
//     ssh_true_ms       `ssh ... root@127.0.0.1 true`, spawn until exit (median)
//     ssh_true_c25519_ms  the same with -o KexAlgorithms=curve25519-sha256
//     ssh_echo_rtt_us   64 bytes through `ssh ... cat` and back (the floor)
//     ssh_cat_mib_s     `cat_mib` MiB piped into `ssh ... 'cat >/dev/null'`
//     ssh_true_bytes    TCP payload bytes of a whole `ssh ... true` connection
//
//   fanout KEY KNOWN_HOSTS CACHE_DIR REPEATS HOST...   (inside mitosis-ctl)
//     fanout<N>_ms      contexts started on N hosts at once (connect_async),
//                       each called once; median of REPEATS, bundle cached
//     REPEATS=0 only installs the bundle (the untimed warm-up).
//
//   pssh KEY KNOWN_HOSTS REPEATS HOST...               (inside mitosis-ctl)
//     pssh<N>_ms        `parallel-ssh ... true` on the N hosts, spawn until
//                       exit (median of REPEATS)
//
// The same binary is re-executed as the agent: mitosis::master comes first.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <mitosis/mitosis.hpp>

#include "bench_util.hpp"  // with the remote functions echo and sink

extern char** environ;

namespace {

using namespace bench;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + (errno ? std::string{": "} + std::strerror(errno) : ""));
}

// -- a counting TCP forwarder ---------------------------------------------------
// Accepts ONE connection on 127.0.0.1:listen_port, connects it to
// 127.0.0.1:target_port and copies both ways, counting payload bytes.
class byte_proxy {
public:
  byte_proxy(std::uint16_t listen_port, std::uint16_t target_port) : target_(target_port) {
    if (::pipe2(stop_, O_CLOEXEC) != 0)
      fail("pipe");
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(listen_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(lfd_, 4) != 0)
      fail("proxy: cannot listen on 127.0.0.1:" + std::to_string(listen_port));
    thread_ = std::thread{[this] { run(); }};
  }
  // Ends the forwarding (a connection still open is cut) and the thread.
  ~byte_proxy() {
    ::shutdown(lfd_, SHUT_RDWR);
    char b = 1;
    auto w = ::write(stop_[1], &b, 1);
    (void)w;
    if (thread_.joinable())
      thread_.join();
    ::close(lfd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  std::uint64_t bytes() const noexcept {
    return up_.load() + down_.load();
  }
  std::uint64_t up() const noexcept {
    return up_.load();
  }
  std::uint64_t down() const noexcept {
    return down_.load();
  }
  // Waits until both directions are closed (the client's connection ended).
  void wait_closed() {
    if (thread_.joinable())
      thread_.join();
  }

private:
  void run() {
    int c = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0)
      return;
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(target_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(c);
      ::close(s);
      return;
    }
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::vector<char> buf(256 * 1024);
    bool c_open = true, s_open = true;
    while (c_open || s_open) {
      pollfd p[3] = {{c, static_cast<short>(c_open ? POLLIN : 0), 0},
                     {s, static_cast<short>(s_open ? POLLIN : 0), 0},
                     {stop_[0], POLLIN, 0}};
      if (::poll(p, 3, -1) < 0 && errno != EINTR)
        break;
      if (p[2].revents)
        break;
      auto pass = [&](int from, int to, bool& open, std::atomic<std::uint64_t>& count) {
        auto n = ::read(from, buf.data(), buf.size());
        if (n <= 0) {
          open = false;
          ::shutdown(to, SHUT_WR);
          return;
        }
        count += static_cast<std::uint64_t>(n);
        const char* q = buf.data();
        while (n > 0) {
          auto w = ::send(to, q, static_cast<std::size_t>(n), MSG_NOSIGNAL);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0) {
            open = false;
            return;
          }
          q += w;
          n -= w;
        }
      };
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
        pass(c, s, c_open, up_);
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
        pass(s, c, s_open, down_);
    }
    ::close(c);
    ::close(s);
  }

  int lfd_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t target_;
  std::atomic<std::uint64_t> up_{0}, down_{0};
  std::thread thread_;
};

// -- child processes ----------------------------------------------------------------
struct child {
  pid_t pid = -1;
  int in = -1;   // our end of its stdin (or -1)
  int out = -1;  // our end of its stdout (or -1)
};

// Starts argv with stdin/stdout as pipes (when asked) or /dev/null.
child spawn(const std::vector<std::string>& args, bool pipe_in, bool pipe_out) {
  int pin[2] = {-1, -1}, pout[2] = {-1, -1};
  if ((pipe_in && ::pipe2(pin, O_CLOEXEC) != 0) || (pipe_out && ::pipe2(pout, O_CLOEXEC) != 0))
    fail("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (pipe_in)
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (pipe_out)
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
  else
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> store = args;
  std::vector<char*> argv;
  for (auto& s : store)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  child c;
  int rc = ::posix_spawnp(&c.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    errno = rc;
    fail("cannot start " + args[0]);
  }
  if (pipe_in) {
    ::close(pin[0]);
    c.in = pin[1];
  }
  if (pipe_out) {
    ::close(pout[1]);
    c.out = pout[0];
  }
  return c;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs args with stdin and stdout on /dev/null; its exit status.
int run(const std::vector<std::string>& args) {
  return wait_exit(spawn(args, false, false).pid);
}

void write_all(int fd, const char* p, std::size_t n) {
  if (write_full(fd, p, n) <= 0)
    fail("write to ssh");
}

void read_all(int fd, char* p, std::size_t n) {
  if (read_full(fd, p, n) <= 0)
    fail("read from ssh (closed early)");
}

// The OpenSSH client command line both baselines use.
std::vector<std::string> ssh_cmd(int port, const std::string& key, const std::string& kh,
                                 const std::string& remote) {
  return {"ssh", "-i", key, "-o", "UserKnownHostsFile=" + kh, "-o", "BatchMode=yes",
          "-o", "LogLevel=ERROR", "-p", std::to_string(port), "root@127.0.0.1", remote};
}

// Per-call microseconds of echo(64 bytes), one figure per batch; `stalls`
// counts the calls (warm-up included) that took longer than 100 ms.
std::vector<double> echo_batches(const mitosis::context& c, int calls, int& stalls) {
  const std::string s(64, 'x');
  auto one = [&] {
    auto t = clock_type::now();
    if (c.call(echo, s).size() != s.size())
      throw std::runtime_error("echo returned something else");
    if (clock_type::now() - t > std::chrono::milliseconds{100})
      ++stalls;
  };
  return batches(500, calls, 250, one, us_per_call);  // 500 warm-up calls
}

// -- modes ------------------------------------------------------------------------------
int mode_loopback(mitosis::master& m, int argc, char** argv) {
  if (argc < 7)
    throw std::runtime_error("usage: loopback PORT PROXY_PORT KEY KNOWN_HOSTS WORKDIR "
                             "[starts] [rtt_calls] [mib_calls]");
  const int port = std::atoi(argv[2]);
  const int proxy_port = std::atoi(argv[3]);
  const std::string key = argv[4], kh = argv[5], work = argv[6];
  const int starts = arg_or(argc, argv, 7, 10);
  const int rtt_calls = arg_or(argc, argv, 8, 5000);
  const int mib_calls = arg_or(argc, argv, 9, 100);
  const auto o = ssh_to("127.0.0.1", port, key, kh);
  const std::string cached_dir = work + "/cache-cached";

  // Untimed: builds this program's bundle on the master side (once per
  // build) and installs it in the cached dir; first use of libssh.
  auto first = m.ssh(o, {.name = "warm", .cache_dir = cached_dir});

  // -- rtt_us / rtt2_us: the master has this one ssh connection ------------
  int stalls = 0, stalls2 = 0;
  {
    print_spread("rtt", "us", echo_batches(first, rtt_calls, stalls));
    auto second = m.ssh(o, {.name = "hop2", .via = first, .cache_dir = cached_dir});
    print_spread("rtt2", "us", echo_batches(second, rtt_calls, stalls2));
    std::printf("rtt_calls=%d\n", rtt_calls);
  }

  // -- mib_s: sink(1 MiB blob), one call at a time ---------------------------
  {
    mitosis::blob mib(1024 * 1024, 'y');
    auto one = [&] {
      if (first.call(sink, mib) != mib.size())
        throw std::runtime_error("sink returned a wrong size");
    };
    // 5 warm-up calls, then batches of 10
    std::printf("mib_s=%.1f\n", median(batches(5, mib_calls, 10, one, per_second)));
    std::printf("mib_calls=%d\n", mib_calls);
  }
  std::fflush(stdout);

  // -- chain: 100 pipelined calls over the one hop ------------------------------
  chain_figures(first, 50, "ssh_chain_");
  std::fflush(stdout);

  // The contexts started below stay up (idle) until the process ends.
  // -- start_cached_ms ----------------------------------------------------------
  print_spread("start_cached", "ms", ms_each(starts, [&](int i) {
                 return m.ssh(o, {.name = "cached." + std::to_string(i), .cache_dir = cached_dir});
               }));

  // -- start_cold_ms: an empty cache dir each time ----------------------------
  {
    std::vector<double> ms;
    for (int i = 0; i < starts; ++i) {
      auto dir = work + "/cold." + std::to_string(::getpid()) + "." + std::to_string(i);
      std::filesystem::remove_all(dir);
      auto t0 = clock_type::now();
      auto c = m.ssh(o, {.name = "cold." + std::to_string(i), .cache_dir = dir});
      ms.push_back(ms_since(t0));
    }
    print_spread("start_cold", "ms", ms);
    std::printf("starts=%d\n", starts);
  }
  std::fflush(stdout);

  // -- rtt_busy_us: the one-hop round trip again, now that the master has
  // 2 * starts more (idle) ssh connections ----------------------------------
  {
    auto per = echo_batches(first, rtt_calls, stalls);
    std::printf("rtt_busy_us=%.3f\n", median(per));
    std::printf("rtt_stalls=%d\n", stalls);
    std::printf("rtt2_stalls=%d\n", stalls2);
  }

  // -- cached_start_bytes: through the counting proxy --------------------------
  {
    // The proxy outlives the master (a static is destroyed after main's
    // locals), so the context's connection ends with the master's shutdown.
    static std::unique_ptr<byte_proxy> proxy;
    proxy = std::make_unique<byte_proxy>(static_cast<std::uint16_t>(proxy_port),
                                         static_cast<std::uint16_t>(port));
    auto po = ssh_to("127.0.0.1", proxy_port, key, kh);
    auto c = m.ssh(po, {.name = "bytes", .cache_dir = cached_dir});
    auto up = proxy->up(), down = proxy->down();
    if (c.call(echo, std::string(64, 'b')).size() != 64)
      throw std::runtime_error("echo returned something else");
    std::printf("cached_start_bytes=%llu\n", static_cast<unsigned long long>(up + down));
    std::printf("cached_start_bytes_up=%llu\n", static_cast<unsigned long long>(up));
    std::printf("cached_start_bytes_down=%llu\n", static_cast<unsigned long long>(down));
    std::printf("cached_start_first_call_bytes=%llu\n",
                static_cast<unsigned long long>(proxy->bytes()));
  }
  std::fflush(stdout);
  return 0;
}

int mode_openssh(int argc, char** argv) {
  if (argc < 6)
    throw std::runtime_error("usage: openssh PORT PROXY_PORT KEY KNOWN_HOSTS [runs] "
                             "[rtt_calls] [cat_mib]");
  const int port = std::atoi(argv[2]);
  const int proxy_port = std::atoi(argv[3]);
  const std::string key = argv[4], kh = argv[5];
  const int runs = arg_or(argc, argv, 6, 10);
  const int rtt_calls = arg_or(argc, argv, 7, 5000);
  const int cat_mib = arg_or(argc, argv, 8, 256);

  // -- ssh_true_ms ------------------------------------------------------------------
  // Also with the key exchange libssh 0.10 uses (OpenSSH 9.2 picks
  // sntrup761x25519-sha512 first, which libssh does not offer): for
  // comparison only, the target is judged on the default.
  auto time_true = [&](const char* name, std::vector<std::string> extra) {
    auto cmd = ssh_cmd(port, key, kh, "true");
    cmd.insert(cmd.begin() + 1, extra.begin(), extra.end());
    auto check = [](int rc) {
      if (rc != 0)
        throw std::runtime_error("ssh ... true exited with " + std::to_string(rc));
    };
    check(run(cmd));
    print_spread(name, "ms", ms_each(runs, [&](int) { return run(cmd); }, check), false);
  };
  time_true("ssh_true", {});
  time_true("ssh_true_c25519", {"-o", "KexAlgorithms=curve25519-sha256"});
  std::printf("ssh_true_runs=%d\n", runs);

  // -- ssh_echo_rtt_us: 64 bytes through ssh ... cat and back -----------------
  {
    auto c = spawn(ssh_cmd(port, key, kh, "cat"), true, true);
    char out[64], in[64];
    std::memset(out, 'x', sizeof(out));
    auto trip = [&] {
      write_all(c.in, out, sizeof(out));
      read_all(c.out, in, sizeof(in));
    };
    // 500 warm-up trips (the first one waits for the login), then batches of 250
    auto per_batch = batches(500, rtt_calls, 250, trip, us_per_call);
    ::close(c.in);
    ::close(c.out);
    wait_exit(c.pid);
    print_spread("ssh_echo_rtt", "us", per_batch, false);
  }

  // -- ssh_cat_mib_s: cat_mib MiB into ssh ... 'cat >/dev/null' ----------------
  {
    // The remote says "r" once the session is up; the clock starts then, so
    // the login is not part of the figure. It stops when ssh exits: the
    // remote cat has read everything and the channel is closed.
    auto c = spawn(ssh_cmd(port, key, kh, "echo r; exec cat >/dev/null"), true, true);
    char r[2];
    read_all(c.out, r, 2);
    std::vector<char> mib(1024 * 1024, 'z');
    auto t0 = clock_type::now();
    for (int i = 0; i < cat_mib; ++i)
      write_all(c.in, mib.data(), mib.size());
    ::close(c.in);
    int rc = wait_exit(c.pid);
    double s = ms_since(t0) / 1000.0;
    ::close(c.out);
    if (rc != 0)
      throw std::runtime_error("ssh ... cat exited with " + std::to_string(rc));
    std::printf("ssh_cat_mib_s=%.1f\n", cat_mib / s);
    std::printf("ssh_cat_mib=%d\n", cat_mib);
  }

  // -- ssh_true_bytes: a whole ssh ... true connection through the proxy -----
  {
    byte_proxy proxy(static_cast<std::uint16_t>(proxy_port), static_cast<std::uint16_t>(port));
    int rc = run(ssh_cmd(proxy_port, key, kh, "true"));
    if (rc != 0)
      throw std::runtime_error("ssh ... true through the proxy exited with " + std::to_string(rc));
    proxy.wait_closed();
    std::printf("ssh_true_bytes=%llu\n", static_cast<unsigned long long>(proxy.bytes()));
    std::printf("ssh_true_bytes_up=%llu\n", static_cast<unsigned long long>(proxy.up()));
    std::printf("ssh_true_bytes_down=%llu\n", static_cast<unsigned long long>(proxy.down()));
  }
  std::fflush(stdout);
  return 0;
}

int mode_fanout(mitosis::master& m, int argc, char** argv) {
  if (argc < 7)
    throw std::runtime_error("usage: fanout KEY KNOWN_HOSTS CACHE_DIR REPEATS HOST...");
  const std::string key = argv[2], kh = argv[3], cache = argv[4];
  const int repeats = std::atoi(argv[5]);
  std::vector<std::string> hosts(argv + 6, argv + argc);
  const std::string s(64, 'f');
  auto fan = [&](int round) {
    auto t0 = clock_type::now();
    std::vector<std::future<mitosis::context>> fs;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      mitosis::bootstrap::method_spec spec;
      spec.kind = mitosis::bootstrap::method_kind::ssh;
      spec.name = "fan." + std::to_string(round) + "." + hosts[i];
      spec.cache_dir = cache;
      spec.ssh = ssh_to(hosts[i], 22, key, kh);
      fs.push_back(m.connect_async(spec));
    }
    call_each(fs, echo, s);
    return ms_since(t0);
  };
  if (repeats <= 0) {
    fan(0);  // installs the bundle (the hosts share this machine's file system)
    std::printf("fanout_warmed=%zu\n", hosts.size());
    return 0;
  }
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r)
    ms.push_back(fan(r + 1));
  std::printf("fanout%zu_ms=%.3f\n", hosts.size(), median(ms));
  std::printf("fanout%zu_first_ms=%.3f\n", hosts.size(), ms.front());
  std::printf("fanout%zu_min_ms=%.3f\n", hosts.size(), *std::min_element(ms.begin(), ms.end()));
  std::fflush(stdout);
  return 0;
}

int mode_pssh(int argc, char** argv) {
  if (argc < 6)
    throw std::runtime_error("usage: pssh KEY KNOWN_HOSTS REPEATS HOST...");
  const std::string key = argv[2], kh = argv[3];
  const int repeats = std::atoi(argv[4]);
  std::vector<std::string> hosts(argv + 5, argv + argc);
  std::string list;
  for (auto& h : hosts)
    list += (list.empty() ? "" : " ") + h;
  std::vector<std::string> cmd{"parallel-ssh", "-p", std::to_string(hosts.size()), "-t", "60",
                               "-l", "root", "-x", "-i " + key + " -o BatchMode=yes",
                               "-O", "UserKnownHostsFile=" + kh, "-O", "LogLevel=ERROR",
                               "-H", list, "true"};
  auto ms = ms_each(repeats, [&](int) { return run(cmd); }, [](int rc) {
    if (rc != 0)
      throw std::runtime_error("parallel-ssh exited with " + std::to_string(rc));
  });
  print_spread("pssh" + std::to_string(hosts.size()), "ms", ms, false);
  std::fflush(stdout);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};  // in a started copy: serves, never returns
  return bench::run_modes("mitosis-bench-ssh", argc, argv,
                          {
       {"loopback", [&] { return mode_loopback(m, argc, argv); }},
       {"openssh", [&] { return mode_openssh(argc, argv); }},
       {"fanout", [&] { return mode_fanout(m, argc, argv); }},
       {"pssh", [&] { return mode_pssh(argc, argv); }}});
}
