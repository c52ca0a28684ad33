// Connection method specs: the argv each local-program method runs (a real
// podman container is tested in tests/container/), labels, and the spec's
// trip over the wire.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "mitosis/bootstrap/method.hpp"
#include "mitosis/bootstrap/process_method.hpp"
#include "mitosis/serialization/archive.hpp"

using namespace mitosis::bootstrap;
using strings = std::vector<std::string>;

namespace {

method_spec spec_of(method_kind k) {
  method_spec s;
  s.kind = k;
  return s;
}

} // namespace

TEST_CASE("become methods run the stage-1 command as the target user") {
  auto s = spec_of(method_kind::sudo);
  s.become.user = "postgres";
  s.become.preserve_env = true;
  s.become.extra_args = {"-H"};
  CHECK(process_argv(s, "S") == strings{"sudo", "-p", "[mitosis] sudo password:", "-u", "postgres",
                                        "-E", "-H", "--", "/bin/sh", "-c", "S"});
  s.kind = method_kind::doas;
  s.become.preserve_env = false; // doas has no flag for it (see below)
  CHECK(process_argv(s, "S") == strings{"doas", "-u", "postgres", "-H", "/bin/sh", "-c", "S"});
  s.kind = method_kind::su;
  s.become.extra_args.clear();
  CHECK(process_argv(s, "echo 'x'")
        == strings{"su", "postgres", "-c", "exec /bin/sh -c 'echo '\\''x'\\'''"});
}

TEST_CASE("docker and podman exec the stage-1 command in the container") {
  auto s = spec_of(method_kind::docker);
  s.container.container = "web";
  CHECK(process_argv(s, "S") == strings{"docker", "exec", "-i", "web", "/bin/sh", "-c", "S"});
  s.kind = method_kind::podman;
  s.container.user = "app";
  s.container.program = "/usr/local/bin/podman";
  s.container.extra_args = {"--env", "A=1"};
  CHECK(process_argv(s, "S") == strings{"/usr/local/bin/podman", "exec", "-i", "-u", "app", "--env",
                                        "A=1", "web", "/bin/sh", "-c", "S"});
  s.container.global_args = {"--storage-driver", "vfs"};
  CHECK(process_argv(s, "S") == strings{"/usr/local/bin/podman", "--storage-driver", "vfs", "exec",
                                        "-i", "-u", "app", "--env", "A=1", "web", "/bin/sh", "-c",
                                        "S"});
}

TEST_CASE("chroot setns and shell run /bin/sh themselves") {
  for (auto k : {method_kind::chroot, method_kind::setns, method_kind::shell})
    CHECK(process_argv(spec_of(k), "S") == strings{"/bin/sh", "-c", "S"});
  CHECK_THROWS(process_argv(spec_of(method_kind::ssh), "S"));
  CHECK_THROWS(process_argv(spec_of(method_kind::local), "S"));
}

TEST_CASE("become options: sudo -H -i -r -t, su -l -m, and what su and doas refuse") {
  auto s = spec_of(method_kind::sudo);
  s.become.set_home = true;
  s.become.login = true;
  s.become.selinux_role = "sysadm_r";
  s.become.selinux_type = "sysadm_t";
  CHECK(process_argv(s, "S") == strings{"sudo", "-p", "[mitosis] sudo password:", "-u", "root",
                                        "-H", "-i", "-r", "sysadm_r", "-t", "sysadm_t", "--",
                                        "/bin/sh", "-c", "eval \"`head -n1`\""});
  s.kind = method_kind::su;
  s.become.selinux_role.clear();
  s.become.selinux_type.clear();
  s.become.preserve_env = true;
  CHECK(process_argv(s, "S") == strings{"su", "-l", "-m", "root", "-c", "exec /bin/sh -c 'S'"});
  auto refused = [](const method_spec& x, const char* what) {
    try {
      process_argv(x, "S");
      FAIL("accepted");
    } catch (const method_error& e) {
      CHECK(e.code() == mitosis::errc::spawn_failed);
      CHECK_THAT(e.what(), Catch::Contains(describe(x)) && Catch::Contains(what));
    }
  };
  auto d = spec_of(method_kind::doas);
  d.become.login = true;
  refused(d, "login");
  d.become.login = false;
  d.become.preserve_env = true;
  refused(d, "keepenv");
  auto u = spec_of(method_kind::su);
  u.become.selinux_type = "t";
  refused(u, "sudo only");
  d.become.preserve_env = false;
  d.become.set_home = true; // doas sets HOME anyway
  CHECK(process_argv(d, "S") == strings{"doas", "-u", "root", "/bin/sh", "-c", "S"});
}

TEST_CASE("a hop is labelled by method and target") {
  auto s = spec_of(method_kind::ssh);
  s.ssh.host = "db1";
  CHECK(describe(s) == "ssh:db1");
  s.ssh.user = "deploy";
  s.ssh.port = 2222;
  CHECK(describe(s) == "ssh:deploy@db1:2222");
  CHECK(describe(spec_of(method_kind::sudo)) == "sudo:root");
  auto n = spec_of(method_kind::setns);
  n.ns.net = "blue";
  CHECK(describe(n) == "setns:blue");
  n.ns.pid = 42;
  CHECK(describe(n) == "setns:pid 42");
}

TEST_CASE("a method spec survives the wire and bad enums are refused") {
  auto s = spec_of(method_kind::ssh);
  s.name = "web";
  s.ssh.host = "10.0.0.5";
  s.ssh.port = 2200;
  s.ssh.host_keys = host_key_mode::accept_new;
  s.become.extra_args = {"-H"};
  s.become.login = true;
  s.become.prompts = {"passphrase"};
  s.ssh.options = {"Ciphers aes128-ctr"};
  s.ssh.proxy_jump = "j1,j2";
  s.ssh.keepalive_count = 5;
  s.container.extra_args = {"--env", "A=1"};
  s.ns.pid = 7;
  std::vector<char> wire;
  mitosis::serialization::encode_into(wire, s);
  method_spec back;
  mitosis::serialization::decode_exact(wire.data(), wire.size(), back);
  CHECK(back.kind == method_kind::ssh);
  CHECK(back.name == "web");
  CHECK(back.ssh.host == "10.0.0.5");
  CHECK(back.ssh.port == 2200);
  CHECK(back.ssh.host_keys == host_key_mode::accept_new);
  CHECK(back.become.extra_args == strings{"-H"});
  CHECK(back.become.login);
  CHECK(back.become.prompts == strings{"passphrase"});
  CHECK(back.ssh.options == strings{"Ciphers aes128-ctr"});
  CHECK(back.ssh.proxy_jump == "j1,j2");
  CHECK(back.ssh.keepalive_count == 5);
  CHECK(back.container.extra_args == strings{"--env", "A=1"});
  CHECK(back.ns.pid == 7);
  CHECK(validate(back).empty());
  back.kind = static_cast<method_kind>(200);
  CHECK(validate(back).find("unknown connection method") != std::string::npos);
  back.kind = method_kind::ssh;
  back.ssh.host_keys = static_cast<host_key_mode>(9);
  CHECK_FALSE(validate(back).empty());
}
