// The lifecycle of one context: shutdown (waiting or not), disconnect, loss
// callbacks, master shutdown and join, detach, and reuse of a running
// context started by the same spec.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "captured_log.hpp"
#include "loss_helpers.hpp"
#include "mitosis/mitosis.hpp"
#include "temp_dir.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;
using loss::all_gone_within;
using loss::gone;

namespace {

// Run in a context: asks `c` (a handle the caller passed) to stop.
bool shut_down_other(mitosis::context c) {
  c.shutdown();
  return true;
}
MITOSIS_REMOTE(shut_down_other);

// Run in a context: stops the context it runs in.
void shut_down_self() {
  mitosis::this_context().shutdown();
}
MITOSIS_REMOTE(shut_down_self);

// Run in a context: reads a line from the FIFO `fifo` (blocking until the
// test writes it), then writes it to `done`.
void wait_then_write(std::string fifo, std::string done) {
  int fd = ::open(fifo.c_str(), O_RDONLY | O_CLOEXEC);
  char buf[64] = {};
  auto n = fd >= 0 ? ::read(fd, buf, sizeof(buf)) : -1;
  if (fd >= 0)
    ::close(fd);
  std::ofstream{done} << (n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "failed");
}
MITOSIS_REMOTE(wait_then_write);

// Run in a context: starts a local child named `name` twice, the second
// time with `new_context` as given; returns both handles.
std::vector<mitosis::context> start_twice(std::string name, bool new_context) {
  auto a = mitosis::start_local({.name = name});
  auto b = mitosis::start_local({.name = name, .new_context = new_context});
  return {a, b};
}
MITOSIS_REMOTE(start_twice);

// Counts the calls of loss callbacks and keeps the last reason.
struct loss_record {
  std::mutex mtx;
  int calls = 0;
  std::string reason;
  std::promise<void> first;
  std::shared_future<void> seen = first.get_future().share();

  std::function<void(const std::string&)> callback() {
    return [this](const std::string& why) {
      std::lock_guard<std::mutex> guard{mtx};
      reason = why;
      if (++calls == 1)
        first.set_value();
    };
  }
  bool seen_within(std::chrono::milliseconds d) {
    return seen.wait_for(d) == std::future_status::ready;
  }
  int count() {
    std::lock_guard<std::mutex> guard{mtx};
    return calls;
  }
  std::string why() {
    std::lock_guard<std::mutex> guard{mtx};
    return reason;
  }
};

// Opens the write end of `fifo` once its reader has it open (ENXIO until
// then), within `limit`; -1 if it never does.
int open_writer(const std::string& fifo, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0 || errno != ENXIO || std::chrono::steady_clock::now() > until)
      return fd;
    std::this_thread::sleep_for(2ms);
  }
}

} // namespace

TEST_CASE("lifecycle: shutdown(wait) stops a context and its subtree and on_lost runs once") {
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "life.a"});
  auto a1 = m.local({.name = "life.a1", .via = a});
  auto b = m.local({.name = "life.b"});
  int pa = a.call(my_pid), pa1 = a1.call(my_pid);
  loss_record la, la1;
  a.on_lost(la.callback());
  a1.on_lost(la1.callback());
  a.shutdown(true); // returns once the loss is seen here
  CHECK(la.seen_within(2s));
  CHECK(la.count() == 1);
  CHECK(la.why().find("shut down by") != std::string::npos);
  CHECK(la1.seen_within(2s));
  CHECK(all_gone_within({pa, pa1}, 2000ms));
  try {
    a.call(add, 1, 2);
    FAIL("a call to a context shut down succeeded");
  } catch (const mitosis::context_lost& e) {
    CHECK(e.context() == "life.a");
  }
  // Registered after the loss: runs at once, with the same reason.
  loss_record late;
  a.on_lost(late.callback());
  CHECK(late.count() == 1);
  CHECK(late.why() == la.why());
  CHECK(la.count() == 1);
  a.shutdown(true); // lost already: done
  CHECK(b.call(add, 2, 2) == 4);
  CHECK(mitosis::children().size() == 1);
}

TEST_CASE("lifecycle: shutdown without waiting and of a context started through another") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "life.mid"});
  auto leaf = m.local({.name = "life.leaf", .via = mid});
  int leaf_pid = leaf.call(my_pid);
  loss_record l;
  leaf.on_lost(l.callback());
  // The master is the leaf's ancestor, not its parent: accepted.
  leaf.shutdown();
  CHECK(l.seen_within(2s));
  CHECK(all_gone_within({leaf_pid}, 2000ms));
  CHECK(mid.call(add, 1, 1) == 2);
  // A function stops the context it runs in.
  loss_record lm;
  mid.on_lost(lm.callback());
  int mid_pid = m.pid_of(mid);
  mid.call_no_reply(shut_down_self);
  CHECK(lm.seen_within(2s));
  CHECK(all_gone_within({mid_pid}, 2000ms));
}

TEST_CASE("lifecycle: a shutdown from a non-ancestor is refused by policy") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "life.target"});
  auto b = m.local({.name = "life.sibling"});
  // Routing between children is refused by the master's default policy.
  CHECK(b.call(shut_down_other, a));
  CHECK(log.wait_for("refused shutdown frame from context " + std::to_string(b.id())));
  CHECK(a.call(add, 1, 1) == 2);
  // With routing between children granted, the master still checks what it
  // forwards against what a child may send (per-hop checks): a child may
  // not send `shutdown`, so the frame stops there. (A target that got one
  // from a non-ancestor would ignore it and log so: lifecycle_service.)
  auto granted = mitosis::policy::rules::defaults();
  granted.sibling_routing = true;
  m.set_policy(granted);
  CHECK(b.call(shut_down_other, a));
  CHECK(log.wait_for("message type not allowed from this peer: shutdown from child"));
  CHECK(a.call(add, 1, 1) == 2);
}

TEST_CASE("lifecycle: disconnect closes the stream and the child exits as if its parent died") {
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "life.cut"});
  auto a1 = m.local({.name = "life.cut1", .via = a});
  int pa = m.pid_of(a), pa1 = a1.call(my_pid);
  // Only a direct child's stream can be closed.
  try {
    a1.disconnect();
    FAIL("disconnect of a grandchild succeeded");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::no_route);
    CHECK(e.context() == "life.cut1");
  }
  loss_record l;
  a.on_lost(l.callback());
  a.disconnect();
  CHECK(l.seen_within(2s));
  CHECK(l.why().find("disconnected by") != std::string::npos);
  CHECK(all_gone_within({pa, pa1}, 2000ms));
  CHECK_THROWS_AS(a.call(add, 1, 1), mitosis::context_lost);
  CHECK(l.count() == 1);
}

TEST_CASE("lifecycle: master shutdown and join stop the tree and run every loss callback once") {
  std::vector<int> pids;
  loss_record la, la1, lb;
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "stop.a"});
  auto b = m.local({.name = "stop.b"});
  auto a1 = m.local({.name = "stop.a1", .via = a});
  for (auto* c : {&a, &b, &a1})
    pids.push_back(c->call(my_pid));
  a.on_lost(la.callback());
  a1.on_lost(la1.callback());
  b.on_lost(lb.callback());
  m.shutdown();
  m.shutdown(); // once is enough
  m.join();
  CHECK(all_gone_within(pids, 2000ms));
  CHECK(la.count() == 1);
  CHECK(la1.count() == 1);
  CHECK(lb.count() == 1);
  CHECK_THROWS_AS(a.call(add, 1, 1), mitosis::error);
  CHECK_THROWS_AS(m.local({.name = "too.late"}), mitosis::error);
  m.join(); // again: returns
}

TEST_CASE("lifecycle: a detached context outlives its master's connection and then ends its work") {
  temp_dir dir;
  const auto fifo = dir.path + "/go";
  const auto done = dir.path + "/done";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  int pid = 0, other_pid = 0;
  int writer = -1;
  {
    mitosis::master m{0, nullptr};
    auto c = m.local({.name = "detached"});
    auto other = m.local({.name = "attached"});
    pid = c.call(my_pid);
    other_pid = other.call(my_pid);
    c.detach();
    c.call_no_reply(wait_then_write, fifo, done);
    writer = open_writer(fifo, 5000ms); // the call has opened the FIFO
    REQUIRE(writer >= 0);
    m.shutdown();
    m.join();
  }
  // The attached child is gone, the detached one runs on: its call is still
  // waiting for the FIFO.
  CHECK(all_gone_within({other_pid}, 2000ms));
  CHECK_FALSE(gone(pid));
  REQUIRE(::write(writer, "go", 2) == 2);
  ::close(writer);
  // Its last call done, it stops by itself.
  bool ended = all_gone_within({pid}, 3000ms);
  CHECK(ended);
  std::ifstream in{done};
  std::string said;
  in >> said;
  CHECK(said == "go");
  if (!ended)
    ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  INFO("exit status " << status);
  CHECK(WIFEXITED(status));
}

TEST_CASE("lifecycle: the same spec started twice returns the running context unless new_context") {
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "same"});
  auto again = m.local({.name = "same"});
  CHECK(again.id() == a.id());
  CHECK(again.call(my_pid) == a.call(my_pid));
  auto fresh = m.local({.name = "same", .new_context = true});
  CHECK(fresh.id() != a.id());
  // Without a name, a local context is always new.
  CHECK(m.local().id() != m.local().id());
  // The via chain is part of the key.
  auto below = m.local({.name = "same", .via = fresh});
  CHECK(below.id() != a.id());
  CHECK(m.local({.name = "same", .via = fresh}).id() == below.id());
  // A context that is gone is not returned: a new one starts.
  a.shutdown(true);
  auto after = m.local({.name = "same"});
  CHECK(after.id() != a.id());
  CHECK(after.call(add, 1, 2) == 3);
  // From inside a context: the same rules.
  auto twice = fresh.call(start_twice, std::string{"inner"}, false);
  REQUIRE(twice.size() == 2);
  CHECK(twice[0].id() == twice[1].id());
  auto two = fresh.call(start_twice, std::string{"inner2"}, true);
  CHECK(two[0].id() != two[1].id());
  CHECK(two[1].call(add, 2, 3) == 5);
}
