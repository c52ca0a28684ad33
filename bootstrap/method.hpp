// What a connection method needs to start a context: one plain struct that
// travels in a spawn_request, so that any context can start the next hop.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "../serialization/errc.hpp"
#include "../serialization/messages.hpp"

namespace mitosis::bootstrap {

enum class method_kind : std::uint8_t {
  local = 0,
  ssh,
  sudo,
  su,
  doas,
  chroot,
  setns,
  docker,
  podman,
  /// Stage-1 through a plain local /bin/sh: installs the bundle as a remote
  /// host would, without any login in between (tests, and users who want a
  /// copy that runs from the installed bundle).
  shell,
};

/// Returns "local", "ssh", ...
const char* to_string(method_kind k) noexcept;

/// How the known_hosts check treats the target's host key.
enum class host_key_mode : std::uint8_t {
  /// Unknown or changed keys are refused (default).
  enforce = 0,
  /// Unknown keys are added to known_hosts; changed keys are refused.
  accept_new,
  /// No check at all (tests, throw-away hosts).
  ignore,
};

/// Options of the ssh method (libssh; no OpenSSH client involved).
struct ssh_settings {
  std::string host{};
  /// 0: 22, or the ssh config's Port.
  std::uint16_t port = 0;
  /// "": the current user, or the ssh config's User.
  std::string user{};
  /// A private key file; "" tries ssh-agent and ~/.ssh/id_*.
  std::string identity_file{};
  /// Password; also answers keyboard-interactive and unlocks the key.
  std::string password{};
  /// "": ~/.ssh/known_hosts.
  std::string known_hosts{};
  host_key_mode host_keys = host_key_mode::enforce;
  /// Read ~/.ssh/config (or ssh_config_file) as OpenSSH does: Host and
  /// Match blocks, HostName, User, Port, IdentityFile, IdentitiesOnly,
  /// UserKnownHostsFile, Compression, ServerAliveInterval/CountMax,
  /// ProxyJump (a chain of ssh contexts), ciphers and the like. A field set
  /// here wins over `options`, which win over the file. A missing
  /// ~/.ssh/config is no error (a missing ssh_config_file is).
  bool use_ssh_config = true;
  std::string ssh_config_file{};
  /// Try keys from ssh-agent (SSH_AUTH_SOCK) when present.
  bool use_agent = true;
  /// Seconds between keepalives (ServerAliveInterval): -1 takes the ssh
  /// config's, else 15; 0: none.
  std::int32_t keepalive_s = -1;
  /// Keepalives left unanswered before the peer is declared dead and the
  /// stream lost (ServerAliveCountMax): -1 takes the ssh config's, else 3.
  std::int32_t keepalive_count = -1;
  /// IdentitiesOnly: only the identity files, neither ssh-agent nor other
  /// default keys (false: as the ssh config says).
  bool identities_only = false;
  /// Compression (false: as the ssh config says).
  bool compression = false;
  /// ProxyJump, "[user@]host[:port]" comma-separated: each becomes an ssh
  /// context the next hop starts from. "": as the ssh config says; "none":
  /// no jump.
  std::string proxy_jump{};
  /// Further options, "Key value" lines as `ssh -o` takes them (see
  /// docs/connection-methods.md for the keys applied; others are refused).
  std::vector<std::string> options{};
};

/// Options of sudo, su and doas.
struct become_settings {
  /// Target user.
  std::string user = "root";
  /// Answers the password prompt if one appears; without one, a prompt is
  /// an auth_error at once.
  std::string password{};
  /// sudo -E, su -m (doas: only doas.conf's keepenv; refused).
  bool preserve_env = false;
  /// sudo -H: HOME is the target user's (su and doas set it anyway).
  bool set_home = false;
  /// A login shell's environment: sudo -i, su -l (doas: refused).
  bool login = false;
  /// sudo -r / -t: the SELinux role and type of the command (sudo only).
  std::string selinux_role{};
  std::string selinux_type{};
  /// More password prompts to answer, beyond a line that ends in ':' and
  /// mentions "password": case-insensitive texts a prompt contains
  /// (localised prompts, "Passphrase:", a PAM module's own words).
  std::vector<std::string> prompts{};
  /// More texts (case-insensitive) that mean the password was refused,
  /// beyond "incorrect password", "sorry, try again", "authentication
  /// failure": an auth_error instead of a bootstrap failure.
  std::vector<std::string> failures{};
  /// Extra arguments to the program, before the command.
  std::vector<std::string> extra_args{};
};

/// Options of setns: a network namespace (a name made by `ip netns add`,
/// or a path) and/or a mount namespace path; or, with `pid`, the ipc, uts,
/// net and mount namespaces of that process (not its pid, user or cgroup
/// namespaces). `pid` excludes `net` and `mount`.
struct setns_settings {
  std::string net{};
  std::string mount{};
  std::int32_t pid = 0;
};

/// Options of docker exec / podman exec.
struct container_settings {
  std::string container{};
  /// exec -u.
  std::string user{};
  /// The client program ("" = docker or podman on PATH).
  std::string program{};
  /// Global options of the client, before `exec` (podman: --storage-driver,
  /// --runtime, --cgroup-manager, --root; docker: --host, --context).
  std::vector<std::string> global_args{};
  /// Extra arguments to `exec`, before the container name.
  std::vector<std::string> extra_args{};
};

/// Everything a method needs; each method reads its own part.
struct method_spec {
  method_kind kind = method_kind::local;
  /// Name of the new context ("" picks "<method>:<target>.<id>").
  std::string name;
  /// local: two pipes instead of a socketpair.
  bool pipes = false;
  /// Cache directory on the target ("" = $HOME/.cache/mitosis, else
  /// /tmp/mitosis-<uid>).
  std::string cache_dir;
  ssh_settings ssh;
  become_settings become;
  /// chroot: the directory.
  std::string chroot_path;
  setns_settings ns;
  container_settings container;
};

MITOSIS_WIRE_FIELDS(ssh_settings, x.host, x.port, x.user, x.identity_file, x.password, x.known_hosts,
                    x.host_keys, x.use_ssh_config, x.ssh_config_file, x.use_agent, x.keepalive_s,
                    x.keepalive_count, x.identities_only, x.compression, x.proxy_jump, x.options)
MITOSIS_WIRE_FIELDS(become_settings, x.user, x.password, x.preserve_env, x.set_home, x.login,
                    x.selinux_role, x.selinux_type, x.prompts, x.failures, x.extra_args)
MITOSIS_WIRE_FIELDS(setns_settings, x.net, x.mount, x.pid)
MITOSIS_WIRE_FIELDS(container_settings, x.container, x.user, x.program, x.global_args, x.extra_args)
MITOSIS_WIRE_FIELDS(method_spec, x.kind, x.name, x.pipes, x.cache_dir, x.ssh, x.become, x.chroot_path,
                    x.ns, x.container)

/// Checks the enums of a decoded spec; returns "" or what is wrong.
std::string validate(const method_spec& s);

/// A connection method failed for a known cause (host key, auth, ...).
class method_error : public std::runtime_error {
public:
  method_error(errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  errc code() const noexcept {
    return code_;
  }

private:
  errc code_;
};

/// A short label of the hop: "ssh:root@h1:22", "sudo:postgres", ...
std::string describe(const method_spec& s);

} // namespace mitosis::bootstrap

MITOSIS_WIRE_STRUCT(mitosis::bootstrap::ssh_settings)
MITOSIS_WIRE_STRUCT(mitosis::bootstrap::become_settings)
MITOSIS_WIRE_STRUCT(mitosis::bootstrap::setns_settings)
MITOSIS_WIRE_STRUCT(mitosis::bootstrap::container_settings)
MITOSIS_WIRE_STRUCT(mitosis::bootstrap::method_spec)
