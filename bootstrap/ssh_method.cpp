#include "ssh_method.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <dlfcn.h>
#include <libssh/libssh.h>
#include <libssh/server.h> // ssh_send_keepalive, usable by clients too

#include <spdlog/spdlog.h>

#include "../serialization/log.hpp"

namespace mitosis::bootstrap {

namespace {

using clock = std::chrono::steady_clock;

// libssh is loaded on first use, not linked: a context that never starts
// an ssh hop (most of them) does not map libssh, libcrypto and Kerberos,
// which would add about 2.5 MB to every agent's RSS.
#define MITOSIS_LIBSSH_FUNCS(X) \
  X(ssh_blocking_flush) \
  X(ssh_channel_close) \
  X(ssh_channel_free) \
  X(ssh_channel_is_closed) \
  X(ssh_channel_is_eof) \
  X(ssh_channel_new) \
  X(ssh_channel_open_session) \
  X(ssh_channel_read_nonblocking) \
  X(ssh_channel_request_exec) \
  X(ssh_channel_send_eof) \
  X(ssh_channel_window_size) \
  X(ssh_channel_write) \
  X(ssh_clean_pubkey_hash) \
  X(ssh_connect) \
  X(ssh_disconnect) \
  X(ssh_free) \
  X(ssh_get_error) \
  X(ssh_get_fd) \
  X(ssh_get_fingerprint_hash) \
  X(ssh_get_poll_flags) \
  X(ssh_get_publickey_hash) \
  X(ssh_get_server_publickey) \
  X(ssh_is_connected) \
  X(ssh_key_free) \
  X(ssh_key_type) \
  X(ssh_key_type_to_char) \
  X(ssh_new) \
  X(ssh_options_get) \
  X(ssh_options_get_port) \
  X(ssh_options_parse_config) \
  X(ssh_options_set) \
  X(ssh_pki_import_privkey_file) \
  X(ssh_send_keepalive) \
  X(ssh_session_is_known_server) \
  X(ssh_session_update_known_hosts) \
  X(ssh_set_blocking) \
  X(ssh_string_free_char) \
  X(ssh_userauth_agent) \
  X(ssh_userauth_kbdint) \
  X(ssh_userauth_kbdint_getnprompts) \
  X(ssh_userauth_kbdint_setanswer) \
  X(ssh_userauth_list) \
  X(ssh_userauth_none) \
  X(ssh_userauth_password) \
  X(ssh_userauth_publickey) \
  X(ssh_userauth_publickey_auto)

struct libssh_api {
#define MITOSIS_LIBSSH_DECLARE(f) decltype(&::f) f = nullptr;
  MITOSIS_LIBSSH_FUNCS(MITOSIS_LIBSSH_DECLARE)
#undef MITOSIS_LIBSSH_DECLARE
  /// Why libssh could not be loaded, or "".
  std::string error;
};

const libssh_api& lib() {
  static const libssh_api api = [] {
    libssh_api a;
    // Global: libssh's own dependencies resolve as if linked.
    void* h = ::dlopen("libssh.so.4", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      a.error = ::dlerror();
      return a;
    }
#define MITOSIS_LIBSSH_LOAD(f)                                                 \
  a.f = reinterpret_cast<decltype(&::f)>(::dlsym(h, #f));                      \
  if (!a.f && a.error.empty())                                                 \
    a.error = "libssh.so.4 has no " #f;
    MITOSIS_LIBSSH_FUNCS(MITOSIS_LIBSSH_LOAD)
#undef MITOSIS_LIBSSH_LOAD
    return a;
  }();
  return api;
}


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

struct session_deleter {
  void operator()(ssh_session s) const noexcept {
    if (s) {
      lib().ssh_disconnect(s);
      lib().ssh_free(s);
    }
  }
};
using session_ptr = std::unique_ptr<ssh_session_struct, session_deleter>;

std::string fingerprint(ssh_session s) {
  ssh_key key = nullptr;
  if (lib().ssh_get_server_publickey(s, &key) != SSH_OK)
    return "(no key)";
  unsigned char* hash = nullptr;
  size_t len = 0;
  std::string out = "(unknown)";
  if (lib().ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == 0) {
    char* fp = lib().ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
    if (fp) {
      out = fp;
      lib().ssh_string_free_char(fp);
    }
    lib().ssh_clean_pubkey_hash(&hash);
  }
  const char* type = lib().ssh_key_type_to_char(lib().ssh_key_type(key));
  out = std::string{type ? type : "?"} + " " + out;
  lib().ssh_key_free(key);
  return out;
}

std::string where(const ssh_settings& s, ssh_session ss) {
  unsigned int port = 22;
  lib().ssh_options_get_port(ss, &port);
  return s.host + ":" + std::to_string(port);
}

void check_host_key(const ssh_settings& s, ssh_session ss) {
  if (s.host_keys == host_key_mode::ignore)
    return;
  auto state = lib().ssh_session_is_known_server(ss);
  switch (state) {
    case SSH_KNOWN_HOSTS_OK:
      return;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      throw method_error(errc::host_key_rejected,
                         "host key of " + where(s, ss) + " CHANGED (now " + fingerprint(ss)
                           + "); refusing to connect");
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
      if (s.host_keys == host_key_mode::accept_new) {
        if (lib().ssh_session_update_known_hosts(ss) != SSH_OK)
          throw method_error(errc::host_key_rejected,
                             "cannot record the host key of " + where(s, ss) + ": "
                               + lib().ssh_get_error(ss));
        return;
      }
      throw method_error(errc::host_key_rejected,
                         "unknown host key for " + where(s, ss) + " (" + fingerprint(ss)
                           + "); not in "
                           + (s.known_hosts.empty() ? std::string{"~/.ssh/known_hosts"}
                                                    : s.known_hosts));
    default:
      throw method_error(errc::host_key_rejected,
                         "cannot check the host key of " + where(s, ss) + ": "
                           + lib().ssh_get_error(ss));
  }
}

bool kbdint(ssh_session ss, const std::string& password) {
  int rc = lib().ssh_userauth_kbdint(ss, nullptr, nullptr);
  for (int round = 0; rc == SSH_AUTH_INFO && round < 4; ++round) {
    int n = lib().ssh_userauth_kbdint_getnprompts(ss);
    for (int i = 0; i < n; ++i)
      lib().ssh_userauth_kbdint_setanswer(ss, static_cast<unsigned>(i), password.c_str());
    rc = lib().ssh_userauth_kbdint(ss, nullptr, nullptr);
  }
  return rc == SSH_AUTH_SUCCESS;
}

void authenticate(const ssh_settings& s, ssh_session ss) {
  int rc = lib().ssh_userauth_none(ss, nullptr);
  if (rc == SSH_AUTH_SUCCESS)
    return;
  if (rc == SSH_AUTH_ERROR)
    throw method_error(errc::unreachable, "ssh to " + where(s, ss) + " failed during auth: "
                                            + lib().ssh_get_error(ss));
  int methods = lib().ssh_userauth_list(ss, nullptr);
  std::vector<std::string> tried;
  if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
    if (!s.identity_file.empty()) {
      tried.push_back("key " + s.identity_file);
      ssh_key key = nullptr;
      if (lib().ssh_pki_import_privkey_file(s.identity_file.c_str(),
                                      s.password.empty() ? nullptr : s.password.c_str(),
                                      nullptr, nullptr, &key)
          != SSH_OK)
        throw method_error(errc::auth_failed, "cannot read identity file " + s.identity_file);
      rc = lib().ssh_userauth_publickey(ss, nullptr, key);
      lib().ssh_key_free(key);
      if (rc == SSH_AUTH_SUCCESS)
        return;
    }
    if (s.use_agent && std::getenv("SSH_AUTH_SOCK")) {
      tried.push_back("ssh-agent");
      if (lib().ssh_userauth_agent(ss, nullptr) == SSH_AUTH_SUCCESS)
        return;
    }
    if (s.identity_file.empty()) {
      tried.push_back("default keys");
      if (lib().ssh_userauth_publickey_auto(ss, nullptr, nullptr) == SSH_AUTH_SUCCESS)
        return;
    }
  }
  if (!s.password.empty()) {
    if (methods & SSH_AUTH_METHOD_PASSWORD) {
      tried.push_back("password");
      if (lib().ssh_userauth_password(ss, nullptr, s.password.c_str()) == SSH_AUTH_SUCCESS)
        return;
    }
    if (methods & SSH_AUTH_METHOD_INTERACTIVE) {
      tried.push_back("keyboard-interactive");
      if (kbdint(ss, s.password))
        return;
    }
  }
  std::string list;
  for (auto& t : tried)
    list += (list.empty() ? "" : ", ") + t;
  char* user = nullptr;
  lib().ssh_options_get(ss, SSH_OPTIONS_USER, &user);
  std::string u = user ? user : "?";
  if (user)
    lib().ssh_string_free_char(user);
  throw method_error(errc::auth_failed, "authentication refused for " + u + "@" + where(s, ss)
                                          + " (tried: " + (list.empty() ? "nothing" : list)
                                          + ")");
}

// -- the pump ---------------------------------------------------------------

struct stderr_tail {
  std::mutex mtx;
  std::string text;
};

struct conn {
  session_ptr session;
  ssh_channel channel = nullptr;
  router::unique_fd local;
  std::string label;
  std::shared_ptr<stderr_tail> err;
  std::string err_partial;
  std::vector<char> to_remote;
  std::size_t to_remote_off = 0;
  std::vector<char> to_local;
  std::size_t to_local_off = 0;
  bool local_eof = false;
  std::chrono::seconds keepalive{0};
  clock::time_point next_keepalive{};
  bool done = false;
  // Drain once on arrival: set-up (the exec request) may already have
  // taken the first output off the socket into libssh's buffer.
  bool kick = true;

  ~conn() {
    if (channel) {
      lib().ssh_channel_close(channel);
      lib().ssh_channel_free(channel);
    }
  }
};

class pump {
public:
  static pump& instance() {
    static pump* p = new pump; // lives as long as the process
    return *p;
  }

  void add(std::unique_ptr<conn> c) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!started_ && ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
      throw method_error(errc::spawn_failed,
                         std::string{"ssh pump: pipe: "} + std::strerror(errno));
    ++live_;
    incoming_.push_back(std::move(c));
    if (!started_) {
      started_ = true;
      std::thread{[this] { run(); }}.detach();
      threads_ = 1;
    } else {
      char b = 1;
      auto w = ::write(wake_[1], &b, 1);
      (void)w;
    }
  }

  int threads() const noexcept {
    return threads_.load();
  }

  /// Waits until every session has been closed (their router ends are
  /// gone), or `timeout` passed.
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mtx_};
    return idle_cv_.wait_for(lock, timeout, [&] { return live_ == 0; });
  }

private:
  void run() {
    lg_ = log::get("ssh");
    std::vector<std::unique_ptr<conn>> conns;
    std::vector<pollfd> pfds;
    std::vector<char> buf(64 * 1024);
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        for (auto& c : incoming_)
          conns.push_back(std::move(c));
        incoming_.clear();
      }
      int timeout = -1;
      pfds.assign(1, pollfd{wake_[0], POLLIN, 0});
      auto now = clock::now();
      for (auto& c : conns) {
        // While the router's end is full, the remote is not read (its
        // data stays in the kernel, and poll() would report it forever).
        short ev = c->to_local_off < c->to_local.size() ? 0 : POLLIN;
        if (lib().ssh_get_poll_flags(c->session.get()) & SSH_WRITE_PENDING)
          ev |= POLLOUT;
        pfds.push_back({lib().ssh_get_fd(c->session.get()), ev, 0});
        short lev = 0;
        if (c->to_remote_off >= c->to_remote.size() && !c->local_eof)
          lev |= POLLIN;
        if (c->to_local_off < c->to_local.size())
          lev |= POLLOUT;
        pfds.push_back({c->local.get(), lev, 0});
        if (c->kick)
          timeout = 0; // a new session: drain it at once
        else if (c->to_remote_off < c->to_remote.size())
          timeout = timeout < 0 ? 5 : std::min(timeout, 5); // waiting for the remote window
        if (c->keepalive.count()) {
          auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(c->next_keepalive - now);
          int m = static_cast<int>(std::max<long long>(0, ms.count()));
          timeout = timeout < 0 ? m : std::min(timeout, m);
        }
      }
      ::poll(pfds.data(), pfds.size(), timeout);
      if (pfds[0].revents) {
        char b[64];
        while (::read(wake_[0], b, sizeof(b)) > 0) {
        }
      }
      for (std::size_t i = 0; i < conns.size(); ++i)
        service(*conns[i], pfds[1 + 2 * i], pfds[2 + 2 * i], buf);
      auto gone = std::erase_if(conns, [](const std::unique_ptr<conn>& c) { return c->done; });
      if (gone > 0) {
        std::lock_guard<std::mutex> guard{mtx_};
        live_ -= static_cast<int>(gone);
        if (live_ == 0)
          idle_cv_.notify_all();
      }
    }
  }

  void finish(conn& c, const char* why) {
    if (c.done)
      return;
    lg_->debug("[{}] ssh stream closed: {}", c.label, why);
    c.done = true;
    c.local.reset();
  }

  // Moves what the channel holds to the router's end, until a read finds
  // nothing (reading may itself make libssh take more packets off the
  // socket: a short read does not prove the buffer empty) or that end is
  // full. Returns the bytes moved, or -1
  // when the connection is finished.
  long drain_channel(conn& c, std::vector<char>& buf, bool with_stderr = true) {
    // stderr first: reading it can take stdout data off the socket too,
    // and the stdout reads below then find it. (The other way round,
    // stdout data could be left behind in libssh's buffer.) Without it,
    // stderr data a stdout read took in waits for the next wake-up.
    if (with_stderr)
      read_stderr(c, buf);
    long moved = 0;
    while (c.to_local_off >= c.to_local.size()) {
      int n = lib().ssh_channel_read_nonblocking(c.channel, buf.data(),
                                           static_cast<uint32_t>(buf.size()), 0);
      if (n <= 0) {
        if (n < 0 && n != SSH_AGAIN) {
          read_stderr(c, buf);
          finish(c, "channel read failed or EOF");
          return -1;
        }
        return moved;
      }
      moved += n;
      const char* p = buf.data();
      auto left = static_cast<std::size_t>(n);
      while (left > 0) {
        auto w = ::send(c.local.get(), p, left, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
          continue;
        if (w < 0 && errno == EAGAIN) {
          c.to_local.assign(p, p + left);
          c.to_local_off = 0;
          break;
        }
        if (w <= 0) {
          finish(c, "router end closed");
          return -1;
        }
        p += w;
        left -= static_cast<std::size_t>(w);
      }
    }
    return moved;
  }

  // stderr of the remote command: kept for error messages, logged.
  void read_stderr(conn& c, std::vector<char>& buf) {
    for (;;) {
      int n = lib().ssh_channel_read_nonblocking(c.channel, buf.data(), 4096, 1);
      if (n <= 0)
        return;
      c.err_partial.append(buf.data(), static_cast<std::size_t>(n));
      {
        std::lock_guard<std::mutex> guard{c.err->mtx};
        c.err->text.append(buf.data(), static_cast<std::size_t>(n));
        if (c.err->text.size() > 8192)
          c.err->text.erase(0, c.err->text.size() - 4096);
      }
      std::size_t nl;
      while ((nl = c.err_partial.find('\n')) != std::string::npos) {
        if (nl > 0)
          lg_->info("[{}] {}", c.label, c.err_partial.substr(0, nl));
        c.err_partial.erase(0, nl + 1);
      }
      if (c.err_partial.size() > 4096)
        c.err_partial.clear();
    }
  }

  void service(conn& c, const pollfd& remote, const pollfd& local, std::vector<char>& buf) {
    auto* ss = c.session.get();
    bool keepalive_due = c.keepalive.count() && clock::now() >= c.next_keepalive;
    // Connections with nothing to do cost nothing: a fleet of idle
    // contexts does not slow the busy one down.
    if (!remote.revents && !local.revents && c.to_remote_off >= c.to_remote.size()
        && c.to_local_off >= c.to_local.size() && !keepalive_due && !c.kick)
      return;
    // The router dropped its end while data for the remote was queued:
    // nothing will read POLLHUP away, so end here instead of spinning.
    if ((local.revents & (POLLHUP | POLLERR)) && c.to_remote_off < c.to_remote.size()) {
      lib().ssh_channel_send_eof(c.channel);
      return finish(c, "router closed the stream");
    }
    // Any libssh call may read the socket and buffer channel data that
    // poll() will then never announce; after one, the channel is drained.
    bool touched = false;
    if (remote.revents & POLLOUT) {
      lib().ssh_blocking_flush(ss, 0);
      touched = true;
    }
    // channel -> local
    if ((c.kick || (remote.revents & (POLLIN | POLLHUP | POLLERR))) && drain_channel(c, buf) < 0)
      return;
    c.kick = false;
    if (local.revents & POLLOUT && c.to_local_off < c.to_local.size()) {
      auto w = ::send(c.local.get(), c.to_local.data() + c.to_local_off,
                      c.to_local.size() - c.to_local_off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0)
        c.to_local_off += static_cast<std::size_t>(w);
      else if (w < 0 && errno != EAGAIN && errno != EINTR)
        return finish(c, "router end closed");
      // The router's end has room again: what libssh kept back follows.
      if (c.to_local_off >= c.to_local.size() && drain_channel(c, buf) < 0)
        return;
    }
    // local -> channel
    if ((local.revents & (POLLIN | POLLHUP)) && c.to_remote_off >= c.to_remote.size()
        && !c.local_eof) {
      c.to_remote.resize(buf.size());
      auto r = ::recv(c.local.get(), c.to_remote.data(), c.to_remote.size(), MSG_DONTWAIT);
      if (r > 0) {
        c.to_remote.resize(static_cast<std::size_t>(r));
        c.to_remote_off = 0;
      } else {
        c.to_remote.clear();
        c.to_remote_off = 0;
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          c.local_eof = true;
          lib().ssh_channel_send_eof(c.channel);
          return finish(c, "router closed the stream");
        }
      }
    }
    while (c.to_remote_off < c.to_remote.size()) {
      auto window = lib().ssh_channel_window_size(c.channel);
      if (window == 0)
        break;
      auto n = std::min<std::size_t>(window, c.to_remote.size() - c.to_remote_off);
      int w = lib().ssh_channel_write(c.channel, c.to_remote.data() + c.to_remote_off,
                                static_cast<uint32_t>(n));
      if (w < 0)
        return finish(c, "channel write failed");
      if (w == 0)
        break;
      touched = true;
      c.to_remote_off += static_cast<std::size_t>(w);
    }
    if (keepalive_due) {
      lib().ssh_send_keepalive(ss);
      c.next_keepalive = clock::now() + c.keepalive;
      touched = true;
    }
    // A write (or flush, or keepalive) may have made libssh read the socket
    // and buffer channel data (a reply already on its way): move it now, or
    // poll() would wait for a socket that has nothing more to say.
    if (touched && drain_channel(c, buf, false) < 0)
      return;
    if ((lib().ssh_channel_is_eof(c.channel) || lib().ssh_channel_is_closed(c.channel)
         || !lib().ssh_is_connected(ss))
        && c.to_local_off >= c.to_local.size()) {
      int n = lib().ssh_channel_read_nonblocking(c.channel, buf.data(),
                                           static_cast<uint32_t>(buf.size()), 0);
      if (n <= 0) {
        read_stderr(c, buf);
        return finish(c, "remote end closed");
      }
      // Late data before the close: deliver it first.
      c.to_local.assign(buf.data(), buf.data() + n);
      c.to_local_off = 0;
    }
  }

  std::mutex mtx_;
  std::vector<std::unique_ptr<conn>> incoming_;
  bool started_ = false;
  std::atomic<int> threads_{0};
  int live_ = 0; // sessions added and not yet closed, mtx_
  std::condition_variable idle_cv_;
  int wake_[2] = {-1, -1};
  std::shared_ptr<spdlog::logger> lg_;
};

long seconds_left(clock::time_point deadline) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(deadline - clock::now()).count();
  return std::max<long>(1, s);
}

} // namespace

std::string load_libssh() {
  return lib().error;
}

int ssh_pump_threads() noexcept {
  return pump::instance().threads();
}

bool ssh_wait_idle(std::chrono::milliseconds timeout) {
  return pump::instance().wait_idle(timeout);
}

transport start_ssh(const method_spec& spec, const std::string& command,
                    clock::time_point deadline) {
  const auto& s = spec.ssh;
  if (s.host.empty())
    throw method_error(errc::spawn_failed, "ssh needs a host");
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
  set(SSH_OPTIONS_HOST, s.host.c_str(), "host");
  int no = 0, yes = 1;
  if (s.use_ssh_config) {
    if (lib().ssh_options_parse_config(raw, s.ssh_config_file.empty() ? nullptr
                                                                 : s.ssh_config_file.c_str())
        != SSH_OK)
      throw method_error(errc::spawn_failed, "cannot read ssh config "
                                               + (s.ssh_config_file.empty()
                                                    ? std::string{"~/.ssh/config"}
                                                    : s.ssh_config_file));
  }
  set(SSH_OPTIONS_PROCESS_CONFIG, &no, "process_config");
  if (s.port) {
    unsigned int port = s.port;
    set(SSH_OPTIONS_PORT, &port, "port");
  }
  if (!s.user.empty())
    set(SSH_OPTIONS_USER, s.user.c_str(), "user");
  if (!s.known_hosts.empty())
    set(SSH_OPTIONS_KNOWNHOSTS, s.known_hosts.c_str(), "known_hosts");
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
  authenticate(s, raw);
  if (clock::now() >= deadline)
    throw method_error(errc::timeout, "ssh to " + where(s, raw) + ": connect timeout during auth");
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
  auto c = std::make_unique<conn>();
  c->label = label;
  c->channel = ch;
  c->local.reset(sv[1]);
  c->err = std::make_shared<stderr_tail>();
  c->keepalive = std::chrono::seconds{s.keepalive_s};
  c->next_keepalive = clock::now() + c->keepalive;
  c->session = std::move(ss);
  transport t;
  t.rfd.reset(sv[0]);
  t.stderr_text = [err = c->err] {
    std::lock_guard<std::mutex> guard{err->mtx};
    return err->text;
  };
  pump::instance().add(std::move(c));
  return t;
}

} // namespace mitosis::bootstrap
