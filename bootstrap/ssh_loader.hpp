// libssh, loaded with dlopen on first use: the table of its functions the
// ssh method calls (typed from libssh's own header), and the session
// deleter. Private to bootstrap/ (it exposes libssh's types).
#pragma once

#include <memory>
#include <string>

#include <libssh/libssh.h>

namespace mitosis::bootstrap {

/// Loads libssh.so.4 (once; it is not linked, so that contexts that never
/// start an ssh hop do not map it). Returns "" or why it failed. The bundle
/// loads it before it lists the libraries to carry, so that a copy can
/// start ssh hops of its own.
std::string load_libssh();

} // namespace mitosis::bootstrap

namespace mitosis::bootstrap::ssh_impl {

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
  X(ssh_channel_request_env) \
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
  X(ssh_options_set) \
  X(ssh_pki_import_privkey_file) \
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

/// The function table; loads libssh.so.4 on the first call. Check `error`
/// (or load_libssh()) before calling through it.
const libssh_api& lib();

struct session_deleter {
  void operator()(ssh_session s) const noexcept;
};
using session_ptr = std::unique_ptr<ssh_session_struct, session_deleter>;

} // namespace mitosis::bootstrap::ssh_impl
