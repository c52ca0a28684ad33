// Host key check and user authentication of the ssh method (see
// ssh_auth.hpp).
#include "ssh_auth.hpp"

#include <cstdlib>
#include <vector>

#include "ssh_loader.hpp"

namespace mitosis::bootstrap::ssh_impl {

namespace {

using clock = std::chrono::steady_clock;

bool has_config_identity(const ssh_settings& s) {
  for (const auto& o : s.options)
    if (o.rfind("IdentityFile ", 0) == 0)
      return true;
  return false;
}

// The identity files to try, in order, each with whether a missing one is
// an error: the explicit one, then the ssh config's; with IdentitiesOnly
// and none named, the default ~/.ssh/id_* files (ssh-agent is not asked).
std::vector<std::pair<std::string, bool>> identity_files(const ssh_settings& s) {
  std::vector<std::pair<std::string, bool>> out;
  if (!s.identity_file.empty())
    out.emplace_back(s.identity_file, true);
  for (const auto& o : s.options)
    if (o.rfind("IdentityFile ", 0) == 0)
      out.emplace_back(o.substr(13), false);
  if (out.empty() && s.identities_only) {
    const char* h = std::getenv("HOME");
    for (const char* n : {"id_ed25519", "id_ecdsa", "id_rsa"})
      out.emplace_back(std::string{h ? h : ""} + "/.ssh/" + n, false);
  }
  return out;
}

} // namespace

void arm_timeout(const ssh_settings& s, ssh_session ss, clock::time_point deadline,
                 const std::string& step) {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - clock::now());
  if (left < std::chrono::milliseconds{1})
    throw method_error(errc::timeout, "ssh to " + where(s, ss) + ": connect timeout " + step);
  // libssh waits timeout s + timeout_usec us in each blocking call.
  long sec = static_cast<long>(left.count() / 1000000);
  long usec = static_cast<long>(left.count() % 1000000);
  lib().ssh_options_set(ss, SSH_OPTIONS_TIMEOUT, &sec);
  lib().ssh_options_set(ss, SSH_OPTIONS_TIMEOUT_USEC, &usec);
}

namespace {

/// Runs one auth attempt `what` with the time left; a failure once the
/// deadline has passed is the deadline's, not the server's refusal.
template <class Attempt>
int attempt(const ssh_settings& s, ssh_session ss, clock::time_point deadline,
            const std::string& what, Attempt&& run) {
  arm_timeout(s, ss, deadline, "before " + what);
  int rc = run();
  if (rc != SSH_AUTH_SUCCESS && clock::now() >= deadline)
    throw method_error(errc::timeout, "ssh to " + where(s, ss) + ": connect timeout during " + what);
  return rc;
}

bool kbdint(const ssh_settings& s, ssh_session ss, clock::time_point deadline) {
  const std::string what = "keyboard-interactive";
  int rc = attempt(s, ss, deadline, what, [&] { return lib().ssh_userauth_kbdint(ss, nullptr, nullptr); });
  for (int round = 0; rc == SSH_AUTH_INFO && round < 4; ++round) {
    int n = lib().ssh_userauth_kbdint_getnprompts(ss);
    for (int i = 0; i < n; ++i)
      lib().ssh_userauth_kbdint_setanswer(ss, static_cast<unsigned>(i), s.password.c_str());
    rc = attempt(s, ss, deadline, what, [&] { return lib().ssh_userauth_kbdint(ss, nullptr, nullptr); });
  }
  return rc == SSH_AUTH_SUCCESS;
}

} // namespace

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

void authenticate(const ssh_settings& s, ssh_session ss, clock::time_point deadline) {
  int rc = attempt(s, ss, deadline, "auth (none)", [&] { return lib().ssh_userauth_none(ss, nullptr); });
  if (rc == SSH_AUTH_SUCCESS)
    return;
  if (rc == SSH_AUTH_ERROR)
    throw method_error(errc::unreachable, "ssh to " + where(s, ss) + " failed during auth: "
                                            + lib().ssh_get_error(ss));
  int methods = lib().ssh_userauth_list(ss, nullptr);
  std::vector<std::string> tried;
  auto ok = [&](const std::string& what, auto&& run) {
    tried.push_back(what);
    return attempt(s, ss, deadline, what, run) == SSH_AUTH_SUCCESS;
  };
  if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
    for (const auto& [file, required] : identity_files(s)) {
      ssh_key key = nullptr;
      if (lib().ssh_pki_import_privkey_file(file.c_str(),
                                            s.password.empty() ? nullptr : s.password.c_str(),
                                            nullptr, nullptr, &key)
          != SSH_OK) {
        // A key the ssh config names may be missing, as with OpenSSH.
        if (required)
          throw method_error(errc::auth_failed, "cannot read identity file " + file);
        continue;
      }
      struct key_guard {
        ssh_key k;
        ~key_guard() {
          lib().ssh_key_free(k);
        }
      } guard{key};
      if (ok("key " + file, [&] { return lib().ssh_userauth_publickey(ss, nullptr, key); }))
        return;
    }
    if (s.use_agent && !s.identities_only && std::getenv("SSH_AUTH_SOCK"))
      if (ok("ssh-agent", [&] { return lib().ssh_userauth_agent(ss, nullptr); }))
        return;
    if (s.identity_file.empty() && !s.identities_only && !has_config_identity(s))
      if (ok("default keys", [&] { return lib().ssh_userauth_publickey_auto(ss, nullptr, nullptr); }))
        return;
  }
  if (!s.password.empty()) {
    if (methods & SSH_AUTH_METHOD_PASSWORD)
      if (ok("password", [&] { return lib().ssh_userauth_password(ss, nullptr, s.password.c_str()); }))
        return;
    if (methods & SSH_AUTH_METHOD_INTERACTIVE) {
      tried.push_back("keyboard-interactive");
      if (kbdint(s, ss, deadline))
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

} // namespace mitosis::bootstrap::ssh_impl
