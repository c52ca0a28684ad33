#include "transport.hpp"

#include <cerrno>
#include <csignal>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <thread>

#include "bundle.hpp"
#include "local_method.hpp"
#include "process_method.hpp"
#include "ssh_method.hpp"
#include "../serialization/log.hpp"

namespace mitosis::bootstrap {

void stop_program(int pid) {
  if (pid) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

transport open_transport(const method_spec& s, const std::string& script,
                         std::chrono::steady_clock::time_point deadline) {
  if (s.kind == method_kind::ssh)
    return start_ssh(s, "/bin/sh -c " + sh_quote(script), deadline);
  return start_process(s, script);
}

expected<remote_start> start_remote(const method_spec& s, const serialization::boot_info& boot,
                                    router::router& r,
                                    std::chrono::steady_clock::time_point deadline) {
  // The methods report a known cause as method_error and anything else as
  // std::exception; both stop here.
  try {
    const auto& b = own_bundle();
    auto script = stage1_script(b, s.cache_dir, "mitosis:" + boot.name, s.kind == method_kind::su);
    auto t = open_transport(s, script, deadline);
    int wfd = t.wfd.get() >= 0 ? t.wfd.get() : t.rfd.get();
    auto done = run_stage1(t.rfd.get(), wfd, b, t.prompts, deadline, t.stderr_text);
    if (done.code != errc::none) {
      stop_program(t.pid);
      return fail(done.code, done.reason);
    }
    if (done.installed)
      log::get("bootstrap")->info("installed bundle {} ({} bytes) for '{}'", b.sha256.substr(0, 12),
                                  b.size, boot.name);
    try {
      send_boot(wfd, boot);
    } catch (const std::exception& e) {
      // Stage-1 said MXOK but the agent is not there: it could not be
      // executed (a noexec cache, a broken loader); its shell said why.
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
      auto said = t.stderr_text ? t.stderr_text() : std::string{};
      stop_program(t.pid);
      return fail(errc::bootstrap_failed, std::string{"the agent did not start ("} + e.what() + ")"
                                            + (said.empty() ? "" : ": " + said));
    }
    drain_lines(std::move(t.tty), boot.name);
    auto sid = attach_child(r, boot, t.pid, std::move(t.rfd), std::move(t.wfd),
                            std::move(t.driver));
    return remote_start{sid, t.pid, done.installed};
  } catch (const method_error& e) {
    return fail(e.code(), e.what());
  } catch (const std::exception& e) {
    return fail(errc::spawn_failed, e.what());
  }
}

} // namespace mitosis::bootstrap
