#include "agent_boot.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bundle.hpp"
#include "local_method.hpp"
#include "../router/stream.hpp"
#include "../serialization/frame.hpp"
#include "../serialization/handshake.hpp"

namespace mitosis::bootstrap {

bool is_agent_process() noexcept {
  auto v = std::getenv(agent_env);
  return v && std::strcmp(v, "1") == 0;
}

namespace {

using clock = std::chrono::steady_clock;

// Reads exactly n bytes or fails; never reads more than asked.
bool read_exact(int fd, char* p, std::size_t n, clock::time_point deadline, std::string& err) {
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) {
      err = "timed out waiting for the parent";
      return false;
    }
    pollfd pfd{fd, POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      continue;
    auto r = ::read(fd, p, n);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (r <= 0) {
      err = r == 0 ? "parent closed the stream" : std::strerror(errno);
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

} // namespace

expected<serialization::boot_info> read_boot(int in_fd, int out_fd,
                                             std::chrono::milliseconds timeout) {
  std::string why;
  auto refuse = [&](std::string reason) { return fail(errc::handshake_failed, std::move(reason)); };
  installed_bundle_dir(); // read MITOSIS_BUNDLE before anything else runs
  if (auto pp = std::getenv(parent_pid_env)) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != std::atoi(pp)) {
      return refuse("parent exited before the agent started");
    }
  }
  ::unsetenv(agent_env);
  ::unsetenv(parent_pid_env);
  std::byte ours[serialization::hello::size];
  serialization::encode(serialization::local_hello(), ours);
  if (!router::write_fully(out_fd, reinterpret_cast<const char*>(ours), sizeof(ours))) {
    return refuse("cannot write hello to the parent");
  }
  auto deadline = clock::now() + timeout;
  std::byte theirs[serialization::hello::size];
  if (!read_exact(in_fd, reinterpret_cast<char*>(theirs), sizeof(theirs), deadline, why))
    return refuse(why);
  auto check = serialization::check_hello(theirs, serialization::local_hello());
  if (!check.ok)
    return refuse(check.reason);
  std::byte hdr_bytes[serialization::frame_header::size];
  if (!read_exact(in_fd, reinterpret_cast<char*>(hdr_bytes), sizeof(hdr_bytes), deadline, why))
    return refuse(why);
  auto hdr = serialization::decode_header(hdr_bytes);
  if (auto e = hdr.valid(); e != errc::none
      || hdr.type != serialization::to_u32(serialization::wire_type::boot)) {
    return refuse(std::string{"bad boot frame: "}
                  + (e != errc::none ? to_string(e) : "not a boot message"));
  }
  serialization::buffer payload(hdr.length);
  if (!read_exact(in_fd, payload.data(), payload.size(), deadline, why))
    return refuse(why);
  serialization::boot_info info;
  try {
    serialization::decode_exact(payload.data(), payload.size(), info);
  } catch (const std::exception& e) {
    return refuse(std::string{"bad boot frame: "} + e.what());
  }
  return info;
}

} // namespace mitosis::bootstrap
