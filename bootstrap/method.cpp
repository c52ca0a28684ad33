#include "method.hpp"

namespace mitosis::bootstrap {

const char* to_string(method_kind k) noexcept {
  switch (k) {
    case method_kind::local: return "local";
    case method_kind::ssh: return "ssh";
    case method_kind::sudo: return "sudo";
    case method_kind::su: return "su";
    case method_kind::doas: return "doas";
    case method_kind::chroot: return "chroot";
    case method_kind::setns: return "setns";
    case method_kind::docker: return "docker";
    case method_kind::podman: return "podman";
    case method_kind::shell: return "shell";
  }
  return "?";
}

std::string describe(const method_spec& s) {
  std::string out = to_string(s.kind);
  switch (s.kind) {
    case method_kind::ssh:
      out += ":" + (s.ssh.user.empty() ? std::string{} : s.ssh.user + "@") + s.ssh.host
             + (s.ssh.port ? ":" + std::to_string(s.ssh.port) : std::string{});
      break;
    case method_kind::sudo:
    case method_kind::su:
    case method_kind::doas:
      out += ":" + s.become.user;
      break;
    case method_kind::setns:
      out += ":" + (s.ns.pid ? "pid " + std::to_string(s.ns.pid)
                             : (s.ns.net.empty() ? s.ns.mount : s.ns.net));
      break;
    case method_kind::chroot:
      out += ":" + s.chroot_path;
      break;
    case method_kind::docker:
    case method_kind::podman:
      out += ":" + s.container.container;
      break;
    default:
      break;
  }
  return out;
}

std::string validate(const method_spec& s) {
  if (static_cast<unsigned>(s.kind) > static_cast<unsigned>(method_kind::shell))
    return "unknown connection method " + std::to_string(static_cast<unsigned>(s.kind));
  if (static_cast<unsigned>(s.ssh.host_keys) > static_cast<unsigned>(host_key_mode::ignore))
    return "unknown host key mode";
  return {};
}

} // namespace mitosis::bootstrap
