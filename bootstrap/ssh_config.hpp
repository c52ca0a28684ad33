// OpenSSH client configuration (ssh_config(5)) as the ssh method reads it:
// a small parser of its own (Host and Match blocks, patterns with * ? and
// !negation, first obtained value wins, Include), and the resolution of an
// ssh_settings against it: explicit settings first, then `options` lines,
// then the file. libssh never reads a config file itself.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "method.hpp"

namespace mitosis::bootstrap {

/// The options ssh_config(5) gives one host: lower-case keyword -> its
/// values, each the rest of its line (quotes removed). A keyword keeps the
/// first value obtained, except the ones that accumulate (IdentityFile,
/// CertificateFile, SendEnv, SetEnv, LocalForward, RemoteForward,
/// DynamicForward), which keep every value in order.
struct ssh_config_values {
  std::map<std::string, std::vector<std::string>> values;

  /// The first value of `key` (lower case), or nullptr.
  const std::string* get(const std::string& key) const;
  /// Adds `value` for `key` unless one is there already (or the keyword
  /// accumulates).
  void add(const std::string& key, const std::string& value);
};

/// Whether `host` matches the single pattern `pat` (* and ?, no negation).
bool ssh_pattern_match(const std::string& pat, const std::string& host);

/// Whether `host` matches a Host line's pattern list: at least one pattern
/// matches and no negated one (!pat) does.
bool ssh_host_matches(const std::vector<std::string>& patterns, const std::string& host);

/// Splits one config line into keyword and arguments ("Key value",
/// "Key=value", "Key = value"; double quotes group). Empty for blank and
/// comment lines. Throws std::runtime_error on an unterminated quote.
std::vector<std::string> ssh_config_words(const std::string& line);

/// Applies config `text` (from `origin`, for messages) to `host`, adding
/// to `into`. Include lines read further files (relative ones under
/// ~/.ssh, globs allowed, missing ones skipped), at most 16 deep. Match
/// blocks apply for the criteria all, host and originalhost (with
/// negation); any other criterion makes the block not apply. Throws
/// std::runtime_error naming origin and line on a malformed line.
void parse_ssh_config(const std::string& text, const std::string& origin, const std::string& host,
                      ssh_config_values& into, int depth = 0);

/// Reads and applies the file at `path`. A missing file is an error when
/// `required`, else nothing.
void read_ssh_config(const std::string& path, const std::string& host, ssh_config_values& into,
                     bool required, int depth = 0);

/// The settings a hop to `s.host` uses: each field set in `s` wins, then
/// `s.options` lines, then (with use_ssh_config) the config file. The
/// result has use_ssh_config false, every config value it applies in its
/// fields (host is the HostName; identity files, ciphers and the like stay
/// in `options`), keepalive_s and keepalive_count resolved (15 s x 3 by
/// default), and proxy_jump as found ("" or "none": none). Throws
/// method_error(spawn_failed) naming the host and the cause on a bad
/// option or an unreadable explicit config file.
ssh_settings resolve_ssh_settings(const ssh_settings& s);

/// The ssh hops that reach `spec`'s host as ProxyJump says (the config of
/// the calling process): one spec per jump host, then `spec` itself,
/// resolved with proxy_jump "none". The first jump is the plain spec
/// `ssh(host)` would use (its own ProxyJump applies when it is started);
/// the later ones, reached through the one before, are resolved here with
/// proxy_jump "none" (as `ssh -J` does). Jump hosts take user, host and
/// port from "[user@]host[:port]" (or ssh://...), and host_keys,
/// known_hosts, use_agent, keepalive and the config file from `spec`.
/// Returns {spec} unchanged when there is no ProxyJump. Throws
/// method_error on a bad ProxyJump.
std::vector<method_spec> ssh_jump_plan(const method_spec& spec);

namespace ssh_detail {
/// `s` in lower case (ASCII: config keywords).
std::string lower(std::string s);
/// $HOME, or "/".
std::string home_dir();
} // namespace ssh_detail

} // namespace mitosis::bootstrap
