// The settings of an ssh hop resolved against `options` and the ssh config,
// and ProxyJump turned into a chain of hops (see ssh_config.hpp).
#include "ssh_config.hpp"

#include <cstdlib>
#include <pwd.h>
#include <stdexcept>
#include <unistd.h>

namespace mitosis::bootstrap {

namespace {

using ssh_detail::home_dir;
using ssh_detail::lower;

std::string local_user() {
  if (auto* pw = ::getpwuid(::geteuid()))
    return pw->pw_name;
  const char* u = std::getenv("USER");
  return u ? u : "";
}

// The keywords `options` lines may set, as ssh_config(5) spells them; the
// ones after ConnectTimeout pass through to libssh (start_ssh).
const char* const known_keys[] = {
  "HostName", "Port", "User", "IdentityFile", "IdentitiesOnly", "UserKnownHostsFile",
  "Compression", "ServerAliveInterval", "ServerAliveCountMax", "ProxyJump", "ConnectTimeout",
  "Ciphers", "MACs", "KexAlgorithms", "HostKeyAlgorithms", "PubkeyAcceptedAlgorithms",
  "PubkeyAcceptedKeyTypes", "BindAddress", "ProxyCommand"};
constexpr std::size_t first_passed = 10; // ConnectTimeout

[[noreturn]] void fail(const ssh_settings& s, const std::string& why) {
  throw method_error(errc::spawn_failed, "ssh to " + s.host + ": " + why);
}

bool yes(const ssh_settings& s, const std::string& key, const std::string& v) {
  auto l = lower(v);
  if (l == "yes" || l == "true")
    return true;
  if (l == "no" || l == "false")
    return false;
  fail(s, key + " takes yes or no, not '" + v + "'");
}

long number(const ssh_settings& s, const std::string& key, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || n < lo || n > hi)
    fail(s, key + " takes a number from " + std::to_string(lo) + " to " + std::to_string(hi)
              + ", not '" + v + "'");
  return n;
}

// %h, %r, %u, %d, %% and a leading ~ (IdentityFile, UserKnownHostsFile).
std::string expand(const std::string& in, const std::string& host, const std::string& user) {
  std::string p = in;
  if (p == "~" || p.rfind("~/", 0) == 0)
    p = home_dir() + p.substr(1);
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '%' || i + 1 >= p.size()) {
      out += p[i];
      continue;
    }
    switch (p[++i]) {
      case 'h': out += host; break;
      case 'r': out += user; break;
      case 'u': out += local_user(); break;
      case 'd': out += home_dir(); break;
      case '%': out += '%'; break;
      default: out += '%'; out += p[i]; break;
    }
  }
  return out;
}

// "[ssh://][user@]host[:port]" of one ProxyJump entry.
ssh_settings jump_host(const ssh_settings& from, std::string j) {
  ssh_settings s;
  s.host_keys = from.host_keys;
  s.known_hosts = from.known_hosts;
  s.use_agent = from.use_agent;
  s.use_ssh_config = true;
  s.ssh_config_file = from.ssh_config_file;
  s.keepalive_s = from.keepalive_s;
  s.keepalive_count = from.keepalive_count;
  if (j.rfind("ssh://", 0) == 0)
    j.erase(0, 6);
  if (auto at = j.rfind('@'); at != std::string::npos) {
    s.user = j.substr(0, at);
    j.erase(0, at + 1);
  }
  if (auto colon = j.rfind(':'); colon != std::string::npos && j.find(']') == std::string::npos) {
    s.port = static_cast<std::uint16_t>(number(from, "ProxyJump port", j.substr(colon + 1), 1, 65535));
    j.erase(colon);
  }
  if (j.size() > 2 && j.front() == '[' && j.back() == ']')
    j = j.substr(1, j.size() - 2);
  if (j.empty())
    fail(from, "ProxyJump entry without a host");
  s.host = j;
  return s;
}

method_spec ssh_spec(const method_spec& like, ssh_settings s) {
  method_spec j;
  j.kind = method_kind::ssh;
  j.cache_dir = like.cache_dir;
  j.ssh = std::move(s);
  return j;
}

} // namespace

ssh_settings resolve_ssh_settings(const ssh_settings& s) {
  ssh_config_values v;
  for (const auto& line : s.options) {
    std::vector<std::string> w;
    try {
      w = ssh_config_words(line);
    } catch (const std::exception& e) {
      fail(s, "bad option '" + line + "': " + e.what());
    }
    if (w.empty())
      continue;
    auto key = lower(w[0]);
    bool known = false;
    for (const char* k : known_keys)
      known = known || key == lower(k);
    if (!known)
      fail(s, "unsupported option '" + w[0] + "' (see docs/connection-methods.md)");
    if (w.size() < 2)
      fail(s, "option '" + line + "' without a value");
    std::string value = w[1];
    for (std::size_t i = 2; i < w.size(); ++i)
      value += " " + w[i];
    v.add(key, value);
  }
  if (s.use_ssh_config) {
    auto path = s.ssh_config_file.empty() ? home_dir() + "/.ssh/config" : s.ssh_config_file;
    try {
      read_ssh_config(path, s.host, v, !s.ssh_config_file.empty());
    } catch (const std::runtime_error& e) {
      fail(s, e.what());
    }
  }
  ssh_settings r = s;
  r.use_ssh_config = false;
  r.options.clear();
  if (auto* hn = v.get("hostname"))
    r.host = expand(*hn, s.host, "");
  if (!r.port)
    if (auto* p = v.get("port"))
      r.port = static_cast<std::uint16_t>(number(s, "Port", *p, 1, 65535));
  if (r.user.empty())
    if (auto* u = v.get("user"))
      r.user = *u;
  std::string user = r.user.empty() ? local_user() : r.user;
  if (r.known_hosts.empty())
    if (auto* k = v.get("userknownhostsfile"))
      r.known_hosts = expand(k->substr(0, k->find(' ')), r.host, user);
  if (!r.identities_only)
    if (auto* x = v.get("identitiesonly"))
      r.identities_only = yes(s, "IdentitiesOnly", *x);
  if (!r.compression)
    if (auto* x = v.get("compression"))
      r.compression = yes(s, "Compression", *x);
  if (r.keepalive_s < 0) {
    auto* x = v.get("serveraliveinterval");
    r.keepalive_s = x ? static_cast<std::int32_t>(number(s, "ServerAliveInterval", *x, 0, 86400)) : 15;
  }
  if (r.keepalive_count < 0) {
    auto* x = v.get("serveralivecountmax");
    r.keepalive_count = x ? static_cast<std::int32_t>(number(s, "ServerAliveCountMax", *x, 1, 1000)) : 3;
  }
  if (r.keepalive_count == 0)
    r.keepalive_count = 1;
  if (r.proxy_jump.empty())
    if (auto* x = v.get("proxyjump"))
      r.proxy_jump = *x;
  if (auto it = v.values.find("identityfile"); it != v.values.end())
    for (const auto& f : it->second)
      r.options.push_back("IdentityFile " + expand(f, r.host, user));
  for (std::size_t i = first_passed; i < std::size(known_keys); ++i)
    if (auto* x = v.get(lower(known_keys[i]))) {
      if (i == first_passed)
        number(s, "ConnectTimeout", *x, 0, 86400);
      r.options.push_back(std::string{known_keys[i]} + " " + *x);
    }
  return r;
}

std::vector<method_spec> ssh_jump_plan(const method_spec& spec) {
  auto r = resolve_ssh_settings(spec.ssh);
  std::string jumps = r.proxy_jump;
  if (jumps.empty() || lower(jumps) == "none")
    return {spec}; // no jump: the hop resolves its settings where it starts
  std::vector<method_spec> out;
  std::size_t start = 0;
  while (start <= jumps.size()) {
    auto comma = jumps.find(',', start);
    if (comma == std::string::npos)
      comma = jumps.size();
    auto entry = jumps.substr(start, comma - start);
    if (entry.empty())
      fail(spec.ssh, "empty entry in ProxyJump '" + jumps + "'");
    auto j = jump_host(spec.ssh, entry);
    if (!out.empty()) {
      // Reached through the jump before it: as `ssh -J prev`, its own
      // ProxyJump does not apply, and the caller's config is baked in.
      j.proxy_jump = "none";
      j = resolve_ssh_settings(j);
    }
    out.push_back(ssh_spec(spec, std::move(j)));
    start = comma + 1;
  }
  // The first jump stays as asked for (its own ProxyJump applies, and the
  // same ssh() call later finds it running); the target is resolved here.
  r.proxy_jump = "none";
  method_spec last = spec;
  last.ssh = std::move(r);
  out.push_back(std::move(last));
  return out;
}

} // namespace mitosis::bootstrap
