// socketpair-pingpong: the raw baseline mitosis is measured against
// (docs/benchmarks.md, Targets). Two processes, one AF_UNIX SOCK_STREAM socketpair,
// blocking read/write, no threads, no library:
//   (a) 64-byte ping-pong round trip;
//   (b) 1 MiB messages, each acknowledged by a small reply (the shape of a
//       call with a 1 MiB argument and a small result).
// Output: key=value lines (socketpair_rtt_us, socketpair_mib_s, ...).
//
// Usage: socketpair-pingpong [rtt_iterations] [mib_messages]
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "bench_util.hpp"

namespace {

using namespace bench;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "socketpair-pingpong: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Reads exactly n bytes; false on EOF.
bool read_exact(int fd, char* p, std::size_t n) {
  auto r = read_full(fd, p, n);
  if (r < 0)
    die("read");
  return r > 0;
}

void write_exact(int fd, const char* p, std::size_t n) {
  if (write_full(fd, p, n) <= 0)
    die("write");
}

// Forks a child that runs `serve(fd)` on its end of a fresh socketpair and
// exits; returns the parent's end.
template <class F>
int fork_child(F serve, pid_t& pid) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    die("socketpair");
  pid = ::fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    ::close(sv[0]);
    serve(sv[1]);
    ::_exit(0);
  }
  ::close(sv[1]);
  return sv[0];
}

void reap(int fd, pid_t pid) {
  ::close(fd);  // the child sees EOF and exits
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

constexpr std::size_t ping_size = 64;
constexpr std::size_t mib = 1024 * 1024;

// (a) Mean round trip of each batch, in microseconds.
std::vector<double> ping_pong(int iterations, int batch) {
  pid_t pid = 0;
  int fd = fork_child(
    [](int c) {
      char buf[ping_size];
      while (read_exact(c, buf, sizeof buf))
        write_exact(c, buf, sizeof buf);
    },
    pid);
  char buf[ping_size];
  std::memset(buf, 'x', sizeof buf);
  auto one = [&] {
    write_exact(fd, buf, sizeof buf);
    if (!read_exact(fd, buf, sizeof buf))
      die("ping-pong child went away");
  };
  auto per_batch = batches(2000, iterations, batch, one,  // 2000 warm-up round trips
                           [](auto t0, int n) { return seconds_since(t0) * 1e6 / n; });
  reap(fd, pid);
  return per_batch;
}

// (b) 1 MiB messages, each acknowledged with 8 bytes: median over batches,
// in MiB/s.
double stream_mib_s(int messages, int batch) {
  pid_t pid = 0;
  int fd = fork_child(
    [](int c) {
      std::vector<char> in(mib);
      std::uint64_t ack = 0;
      while (read_exact(c, in.data(), in.size())) {
        ack = in.size();
        write_exact(c, reinterpret_cast<const char*>(&ack), sizeof ack);
      }
    },
    pid);
  std::vector<char> out(mib, 'y');
  auto one = [&] {
    write_exact(fd, out.data(), out.size());
    std::uint64_t ack = 0;
    if (!read_exact(fd, reinterpret_cast<char*>(&ack), sizeof ack) || ack != mib)
      die("stream child went away");
  };
  auto per_batch = batches(10, messages, batch, one,  // 10 warm-up messages
                           [](auto t0, int n) { return n / seconds_since(t0); });
  reap(fd, pid);
  return median(per_batch);
}

} // namespace

int main(int argc, char** argv) {
  int iterations = arg_or(argc, argv, 1, 20000);
  int messages = arg_or(argc, argv, 2, 200);
  auto rtt = ping_pong(iterations, 1000);
  auto mib_s = stream_mib_s(messages, 20);
  print_spread("socketpair_rtt", "us", rtt);
  std::printf("socketpair_rtt_iterations=%d\n", iterations);
  std::printf("socketpair_mib_s=%.1f\n", mib_s);
  std::printf("socketpair_mib_messages=%d\n", messages);
  return 0;
}
