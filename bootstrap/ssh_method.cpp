// The ssh method, on libssh: connect, set the options, check the host key
// and authenticate (ssh_auth), run stage-1 on an exec channel, then hand
// the connection to the pump (ssh_pump), which owns it from then on.
#include "ssh_method.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include "ssh_auth.hpp"
#include "ssh_config.hpp"
#include "ssh_loader.hpp"
#include "ssh_pump.hpp"
#include "../serialization/log.hpp"
#include "ssh_logger.hpp"

namespace mitosis::bootstrap {

using namespace ssh_impl;

namespace {

using clock = std::chrono::steady_clock;

// At most this many connects (TCP + key exchange + auth) at once per
// process; further callers wait their turn.
constexpr int max_parallel_connects = 32;

class connect_slots {
public:
  void acquire(clock::time_point deadline, const std::string& label) {
    std::unique_lock<std::mutex> lock{mtx_};
    if (!cv_.wait_until(lock, deadline, [&] { return used_ < max_parallel_connects; }))
      throw method_error(errc::timeout, label + ": timed out waiting for a connect slot");
    ++used_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      --used_;
    }
    cv_.notify_one();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  int used_ = 0;
};

connect_slots& slots() {
  static connect_slots s;
  return s;
}

long seconds_left(clock::time_point deadline) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(deadline - clock::now()).count();
  return std::max<long>(1, s);
}

// The `options` lines resolve_ssh_settings passes on to libssh; narrows
// `deadline` by ConnectTimeout.
void apply_options(const ssh_settings& s, ssh_session raw, clock::time_point& deadline) {
  auto set = [&](ssh_options_e opt, const std::string& v, const std::string& what) {
    if (lib().ssh_options_set(raw, opt, v.c_str()) != SSH_OK)
      throw method_error(errc::spawn_failed, "ssh to " + s.host + ": bad option " + what + " '" + v
                                               + "': " + lib().ssh_get_error(raw));
  };
  for (const auto& line : s.options) {
    auto w = ssh_config_words(line);
    if (w.size() < 2)
      continue;
    std::string key = w[0], v = w[1];
    for (std::size_t i = 2; i < w.size(); ++i)
      v += " " + w[i];
    if (key == "ConnectTimeout") {
      if (auto n = std::atol(v.c_str()); n > 0)
        deadline = std::min(deadline, clock::now() + std::chrono::seconds{n});
    } else if (key == "Ciphers") {
      set(SSH_OPTIONS_CIPHERS_C_S, v, key);
      set(SSH_OPTIONS_CIPHERS_S_C, v, key);
    } else if (key == "MACs") {
      set(SSH_OPTIONS_HMAC_C_S, v, key);
      set(SSH_OPTIONS_HMAC_S_C, v, key);
    } else if (key == "KexAlgorithms") {
      set(SSH_OPTIONS_KEY_EXCHANGE, v, key);
    } else if (key == "HostKeyAlgorithms") {
      set(SSH_OPTIONS_HOSTKEYS, v, key);
    } else if (key == "PubkeyAcceptedAlgorithms" || key == "PubkeyAcceptedKeyTypes") {
      set(SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES, v, key);
    } else if (key == "BindAddress") {
      set(SSH_OPTIONS_BINDADDR, v, key);
    } else if (key == "ProxyCommand") {
      if (v != "none")
        set(SSH_OPTIONS_PROXYCOMMAND, v, key);
    }
    // IdentityFile: authenticate() reads them.
  }
}

} // namespace

transport start_ssh(const method_spec& spec, const std::string& command,
                    clock::time_point deadline) {
  if (spec.ssh.host.empty())
    throw method_error(errc::spawn_failed, "ssh needs a host");
  // Explicit settings, then `options`, then the ssh config of this process.
  const ssh_settings s = resolve_ssh_settings(spec.ssh);
  if (!s.proxy_jump.empty() && s.proxy_jump != "none")
    lg()->info("[{}] ProxyJump {} of the ssh config here is not followed: jumps are planned by "
               "the process that asks for the hop",
               describe(spec), s.proxy_jump);
  if (auto why = load_libssh(); !why.empty())
    throw method_error(errc::spawn_failed, "cannot load libssh: " + why);
  auto label = describe(spec);
  slots().acquire(deadline, label);
  struct release_slot {
    ~release_slot() {
      slots().release();
    }
  } slot_guard;

  session_ptr ss{lib().ssh_new()};
  if (!ss)
    throw method_error(errc::spawn_failed, "ssh_new failed");
  auto* raw = ss.get();
  auto set = [&](ssh_options_e opt, const void* v, const char* what) {
    if (lib().ssh_options_set(raw, opt, v) != SSH_OK)
      throw method_error(errc::spawn_failed, std::string{"bad ssh option "} + what + ": "
                                               + lib().ssh_get_error(raw));
  };
  int no = 0, yes = 1;
  // libssh reads no config file: resolve_ssh_settings did.
  set(SSH_OPTIONS_PROCESS_CONFIG, &no, "process_config");
  set(SSH_OPTIONS_HOST, s.host.c_str(), "host");
  if (s.port) {
    unsigned int port = s.port;
    set(SSH_OPTIONS_PORT, &port, "port");
  }
  if (!s.user.empty())
    set(SSH_OPTIONS_USER, s.user.c_str(), "user");
  if (!s.known_hosts.empty())
    set(SSH_OPTIONS_KNOWNHOSTS, s.known_hosts.c_str(), "known_hosts");
  set(SSH_OPTIONS_COMPRESSION, s.compression ? "yes" : "no", "compression");
  apply_options(s, raw, deadline);
  long timeout = seconds_left(deadline);
  set(SSH_OPTIONS_TIMEOUT, &timeout, "timeout");
  set(SSH_OPTIONS_NODELAY, &yes, "nodelay");
  if (lib().ssh_connect(raw) != SSH_OK) {
    std::string err = lib().ssh_get_error(raw);
    auto code = clock::now() >= deadline || err.find("imeout") != std::string::npos
                  ? errc::timeout
                  : errc::unreachable;
    throw method_error(code, "cannot connect to " + where(s, raw) + ": " + err);
  }
  check_host_key(s, raw);
  // Every auth attempt, and the channel's set-up, gets what is left of the
  // deadline, not the whole timeout set for the connect.
  authenticate(s, raw, deadline);
  arm_timeout(s, raw, deadline, "before running stage-1");
  ssh_channel ch = lib().ssh_channel_new(raw);
  if (!ch || lib().ssh_channel_open_session(ch) != SSH_OK
      || lib().ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
    std::string err = lib().ssh_get_error(raw);
    if (ch)
      lib().ssh_channel_free(ch);
    throw method_error(errc::bootstrap_failed, "cannot run stage-1 on " + where(s, raw) + ": " + err);
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    lib().ssh_channel_free(ch);
    throw method_error(errc::spawn_failed, std::string{"socketpair: "} + std::strerror(errno));
  }
  lib().ssh_set_blocking(raw, 0);
  auto c = std::make_shared<conn>();
  c->label = label;
  c->channel = ch;
  c->local.reset(sv[1]);
  c->err = std::make_shared<stderr_tail>();
  c->keepalive = std::chrono::seconds{std::max(0, s.keepalive_s)};
  c->keepalive_count = std::max(1, s.keepalive_count);
  c->next_keepalive = clock::now() + c->keepalive;
  c->sock = lib().ssh_get_fd(raw);
  c->session = std::move(ss);
  transport t;
  t.rfd.reset(sv[0]);
  t.stderr_text = [err = c->err] {
    std::lock_guard<std::mutex> guard{err->mtx};
    return err->text;
  };
  t.driver = c;
  pump_add(std::move(c));
  return t;
}

} // namespace mitosis::bootstrap
