// The ssh_config(5) parser and the resolution of ssh settings against it
// (the real sshd behind them is in tests/integration/ssh_options_test.cpp).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "mitosis/bootstrap/ssh_config.hpp"

using namespace mitosis::bootstrap;
using strings = std::vector<std::string>;

namespace {

ssh_config_values parse(const std::string& text, const std::string& host) {
  ssh_config_values v;
  parse_ssh_config(text, "test", host, v);
  return v;
}

std::string value(const ssh_config_values& v, const std::string& key) {
  auto* x = v.get(key);
  return x ? *x : "(none)";
}

/// A config file in a fresh directory, removed at the end.
struct config_file {
  std::string dir;
  std::string path;
  explicit config_file(const std::string& text) {
    char tmpl[] = "/tmp/mitosis-sshcfg-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
    path = dir + "/config";
    std::ofstream{path} << text;
  }
  ~config_file() {
    std::string cmd = "rm -rf " + dir;
    (void)std::system(cmd.c_str());
  }
};

} // namespace

TEST_CASE("ssh config patterns: * ? and negation, case-insensitive") {
  CHECK(ssh_pattern_match("*", "anything"));
  CHECK(ssh_pattern_match("*.lab", "db1.lab"));
  CHECK_FALSE(ssh_pattern_match("*.lab", "db1.lab.org"));
  CHECK(ssh_pattern_match("db?", "DB7"));
  CHECK_FALSE(ssh_pattern_match("db?", "db12"));
  CHECK(ssh_pattern_match("a*b*c", "axxbyyc"));
  CHECK_FALSE(ssh_pattern_match("a*b*c", "axxbyy"));
  CHECK(ssh_host_matches({"*.lab", "!bastion.lab"}, "db.lab"));
  CHECK_FALSE(ssh_host_matches({"*.lab", "!bastion.lab"}, "bastion.lab"));
  CHECK_FALSE(ssh_host_matches({"!bastion.lab"}, "db.lab")); // negation alone matches nothing
}

TEST_CASE("ssh config words: Key value, Key=value, quotes, comments") {
  CHECK(ssh_config_words("  Port 2222  # comment") == strings{"Port", "2222"});
  CHECK(ssh_config_words("Port=2222") == strings{"Port", "2222"});
  CHECK(ssh_config_words("Port = 2222") == strings{"Port", "2222"});
  CHECK(ssh_config_words("IdentityFile \"/a b/key\"") == strings{"IdentityFile", "/a b/key"});
  CHECK(ssh_config_words("# only a comment").empty());
  CHECK(ssh_config_words("   ").empty());
  CHECK_THROWS_WITH(ssh_config_words("User \"x"), Catch::Contains("unterminated quote"));
}

TEST_CASE("ssh config: the first value obtained wins, IdentityFile accumulates") {
  const std::string cfg = "User everyone\n"
                          "Host db* !db9\n"
                          "  HostName %h.internal\n"
                          "  Port 2200\n"
                          "  IdentityFile ~/.ssh/db\n"
                          "Host *\n"
                          "  Port 22\n"
                          "  User late\n"
                          "  IdentityFile ~/.ssh/all\n";
  auto v = parse(cfg, "db1");
  CHECK(value(v, "user") == "everyone"); // before any Host line: applies to all
  CHECK(value(v, "hostname") == "%h.internal");
  CHECK(value(v, "port") == "2200");
  CHECK(v.values["identityfile"] == strings{"~/.ssh/db", "~/.ssh/all"});
  auto n = parse(cfg, "db9");
  CHECK(value(n, "hostname") == "(none)");
  CHECK(value(n, "port") == "22");
}

TEST_CASE("ssh config: Match all, host and originalhost, others do not apply") {
  const std::string cfg = "Host alias\n  HostName real.example\n"
                          "Match host real.example\n  Port 1\n"
                          "Match originalhost alias exec \"true\"\n  User nobody\n"
                          "Match !originalhost other\n  Compression yes\n"
                          "Match all\n  ServerAliveInterval 7\n";
  auto v = parse(cfg, "alias");
  CHECK(value(v, "port") == "1");
  CHECK(value(v, "user") == "(none)"); // exec is not evaluated: the block does not apply
  CHECK(value(v, "compression") == "yes");
  CHECK(value(v, "serveraliveinterval") == "7");
}

TEST_CASE("ssh config: malformed lines name the file and line") {
  CHECK_THROWS_WITH(parse("Host a\nPort\n", "a"), Catch::Contains("test line 2"));
  CHECK_THROWS_WITH(parse("Host\n", "a"), Catch::Contains("Host without a pattern"));
}

TEST_CASE("ssh config: Include reads further files (globs, missing ones skipped)") {
  config_file inc{"Host inc\n  Port 2022\n"};
  config_file top{"Include " + inc.dir + "/conf* /nonexistent/x\nHost inc\n  Port 9\n  User u\n"};
  ssh_config_values v;
  read_ssh_config(top.path, "inc", v, true);
  CHECK(value(v, "port") == "2022");
  CHECK(value(v, "user") == "u");
  ssh_config_values none;
  CHECK_NOTHROW(read_ssh_config("/nonexistent/config", "x", none, false));
  CHECK_THROWS_WITH(read_ssh_config("/nonexistent/config", "x", none, true),
                    Catch::Contains("/nonexistent/config"));
}

TEST_CASE("ssh settings: explicit fields win over options, options over the config file") {
  config_file cfg{"Host lab\n  HostName 10.1.2.3\n  Port 2200\n  User cfguser\n"
                  "  IdentityFile /keys/%r@%h\n  IdentitiesOnly yes\n  Compression yes\n"
                  "  ServerAliveInterval 5\n  ServerAliveCountMax 2\n  Ciphers aes128-ctr\n"
                  "  ForwardAgent yes\n"};
  ssh_settings s;
  s.host = "lab";
  s.ssh_config_file = cfg.path;
  s.options = {"Port 2300", "User optuser"};
  s.user = "explicit";
  auto r = resolve_ssh_settings(s);
  CHECK(r.host == "10.1.2.3");
  CHECK(r.port == 2300);
  CHECK(r.user == "explicit");
  CHECK(r.identities_only);
  CHECK(r.compression);
  CHECK(r.keepalive_s == 5);
  CHECK(r.keepalive_count == 2);
  CHECK_FALSE(r.use_ssh_config);
  CHECK(r.options == strings{"IdentityFile /keys/explicit@10.1.2.3", "Ciphers aes128-ctr"});
  // Resolving again changes nothing (what a jump plan sends on).
  auto again = resolve_ssh_settings(r);
  CHECK(again.host == r.host);
  CHECK(again.options == r.options);
}

TEST_CASE("ssh settings: defaults without a config (keepalive 15 s x 3), bad input is typed") {
  ssh_settings s;
  s.host = "h";
  s.use_ssh_config = false;
  auto r = resolve_ssh_settings(s);
  CHECK(r.keepalive_s == 15);
  CHECK(r.keepalive_count == 3);
  CHECK(r.options.empty());
  s.keepalive_s = 0;
  CHECK(resolve_ssh_settings(s).keepalive_s == 0);
  s.options = {"ForwardAgent yes"};
  try {
    resolve_ssh_settings(s);
    FAIL("accepted");
  } catch (const method_error& e) {
    CHECK(e.code() == mitosis::errc::spawn_failed);
    CHECK_THAT(e.what(), Catch::Contains("ssh to h") && Catch::Contains("ForwardAgent"));
  }
  s.options = {"Port x"};
  CHECK_THROWS_WITH(resolve_ssh_settings(s), Catch::Contains("Port takes a number"));
  s.options = {};
  s.use_ssh_config = true;
  s.ssh_config_file = "/nonexistent/ssh_config";
  CHECK_THROWS_WITH(resolve_ssh_settings(s), Catch::Contains("/nonexistent/ssh_config"));
}

TEST_CASE("ProxyJump becomes one ssh hop per jump host") {
  config_file cfg{"Host target\n  HostName 10.0.0.9\n  ProxyJump alice@j1:2201,j2\n"
                  "Host j2\n  HostName 10.0.0.2\n  ProxyJump j0\n"};
  method_spec spec;
  spec.kind = method_kind::ssh;
  spec.name = "t";
  spec.ssh.host = "target";
  spec.ssh.ssh_config_file = cfg.path;
  spec.ssh.host_keys = host_key_mode::accept_new;
  auto hops = ssh_jump_plan(spec);
  REQUIRE(hops.size() == 3);
  // The first jump as ssh("j1") would ask for it: resolved when started.
  CHECK(hops[0].ssh.host == "j1");
  CHECK(hops[0].ssh.user == "alice");
  CHECK(hops[0].ssh.port == 2201);
  CHECK(hops[0].ssh.use_ssh_config);
  CHECK(hops[0].ssh.proxy_jump.empty());
  CHECK(hops[0].name.empty());
  // The second is reached through the first: its own ProxyJump j0 does
  // not apply (as ssh -J), the config is baked in.
  CHECK(hops[1].ssh.host == "10.0.0.2");
  CHECK(hops[1].ssh.proxy_jump == "none");
  CHECK_FALSE(hops[1].ssh.use_ssh_config);
  CHECK(hops[2].ssh.host == "10.0.0.9");
  CHECK(hops[2].ssh.proxy_jump == "none");
  CHECK(hops[2].name == "t");
  for (auto& h : hops)
    CHECK(h.ssh.host_keys == host_key_mode::accept_new);
  spec.ssh.proxy_jump = "none"; // explicit wins over the file
  CHECK(ssh_jump_plan(spec).size() == 1);
  spec.ssh.proxy_jump = "a,,b";
  CHECK_THROWS_WITH(ssh_jump_plan(spec), Catch::Contains("empty entry"));
  spec.ssh.proxy_jump = "j:99999";
  CHECK_THROWS_WITH(ssh_jump_plan(spec), Catch::Contains("ProxyJump port"));
}
