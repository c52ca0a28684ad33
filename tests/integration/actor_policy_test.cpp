// Remote actors under the policy: spawn rights, message-type rights checked
// before decoding, a hostile child's actor frames, handles that introduce
// the actors of two children to each other, and actors tied to their
// spawner (or detached from it).
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <unistd.h>

#include "captured_log.hpp"
#include "mitosis/actors/actor_ids.hpp"
#include "mitosis/actors/remote_actor.hpp"
#include "mitosis/actors/runtime.hpp"
#include "mitosis/mitosis.hpp"
#include "mitosis/serialization/frame.hpp"
#include "mitosis/serialization/messages.hpp"
#include "test_actors.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;
using mitosis::errc;

// -- run in the children -------------------------------------------------------

// Declared in test_actors.hpp (bounds_test.cpp calls it too).
std::string spawn_in(mitosis::context where, std::string type, bool detached) {
  try {
    const auto& p = where;
    auto a = detached ? p.spawn<caf::actor>(mitosis::detached, type) : p.spawn<caf::actor>(type);
    return "spawned " + std::to_string(a.id());
  } catch (const mitosis::spawn_error& e) {
    return "refused " + std::to_string(static_cast<int>(e.code())) + ": " + e.what();
  }
}
MITOSIS_REMOTE(spawn_in);

namespace {
std::mutex watch_mtx;
std::map<std::uint64_t, std::shared_future<std::string>> watches;
} // namespace

// Starts watching the local actor `id` (spawned here for another context):
// its exit reason, rendered, is what watched_exit returns.
bool watch_actor(std::uint64_t id) {
  auto& sys = mitosis::detail::system_of(*mitosis::actors::runtime::agent());
  auto a = sys.registry().get(static_cast<caf::actor_id>(id));
  if (!a)
    return false;
  auto done = std::make_shared<std::promise<std::string>>();
  {
    std::lock_guard<std::mutex> guard{watch_mtx};
    watches[id] = done->get_future().share();
  }
  // Runs at the exit, or at once if the actor has exited already.
  a->get()->attach_functor([done, &sys](const caf::error& reason) { done->set_value(sys.render(reason)); });
  return true;
}
MITOSIS_REMOTE(watch_actor);

// The exit reason of the actor watched with watch_actor, or "alive" after `ms`.
std::string watched_exit(std::uint64_t id, int ms) {
  std::shared_future<std::string> f;
  {
    std::lock_guard<std::mutex> guard{watch_mtx};
    f = watches.at(id);
  }
  if (f.wait_for(std::chrono::milliseconds{ms}) != std::future_status::ready)
    return "alive";
  return f.get();
}
MITOSIS_REMOTE(watched_exit);

namespace {

bool send_to_parent(mitosis::serialization::wire_type t, unsigned src, const auto& payload) {
  namespace ser = mitosis::serialization;
  auto wire = ser::frame_builder{ser::make_header(t, 0, src)}.add(payload).finish();
  return mitosis::detail::send_raw_to_parent(wire.data(), wire.size());
}

} // namespace

// Sends the parent, as raw frames, actor traffic it may not send: a message
// for the parent's actor `victim` whose header says it holds an int (and
// whose body is missing: decoding it would fail), one whose header is
// malformed, a down for actor
// `other_actor` of context `other` claiming to come from `other`, the same
// down from itself, and a link report for `victim`, which it never knew.
bool send_forged_actor_frames(unsigned other, std::uint64_t other_actor, std::uint64_t victim) {
  namespace ser = mitosis::serialization;
  auto self = mitosis::actors::runtime::agent()->self();
  ser::actor_message_info m;
  m.dst = victim;
  m.sender_ctx = self;
  m.content = {0, 0, 8, '@', '<', '>', '+', '@', 'i', '3', '2'};
  auto bogus = m; // a header announcing 2^28 bytes of type names in 6 bytes
  bogus.content = {0, 0, '\xff', '\xff', '\xff', 0x7f};
  ser::actor_down_info d{other_actor, {}};
  ser::actor_link_info l{victim, 77, true};
  auto send_message = [self](const ser::actor_message_info& x) {
    ser::frame_builder fb{ser::make_header(ser::wire_type::actor_message, 0, self)};
    ser::encode_plain(fb.bytes(), x);
    auto wire = fb.finish();
    return mitosis::detail::send_raw_to_parent(wire.data(), wire.size());
  };
  return send_message(m) && send_message(bogus)
         && send_to_parent(ser::wire_type::actor_down, other, d)
         && send_to_parent(ser::wire_type::actor_down, self, d)
         && send_to_parent(ser::wire_type::actor_link, self, l);
}
MITOSIS_REMOTE(send_forged_actor_frames);

// Sends the parent an actor message holding the int 7 for every actor id
// from `known - span` to `known + span`, as a child that knows the parent's
// actor `known` would to find its other actors by counting. Returns how
// many frames left.
int send_counted_actor_messages(std::uint64_t known, int span) {
  namespace ser = mitosis::serialization;
  auto* rt = mitosis::actors::runtime::agent();
  auto& sys = mitosis::detail::system_of(*rt);
  ser::actor_message_info m;
  m.sender_ctx = rt->self();
  std::vector<char> content;
  caf::binary_serializer sink{sys, content};
  if (caf::message::save(sink, caf::make_message(std::int32_t{7}).content()))
    return -1;
  m.content.assign(content.begin(), content.end());
  int sent = 0;
  for (std::int64_t d = -span; d <= span; ++d) {
    m.dst = known + static_cast<std::uint64_t>(d);
    ser::frame_builder fb{ser::make_header(ser::wire_type::actor_message, 0, rt->self())};
    ser::encode_plain(fb.bytes(), m);
    auto wire = fb.finish();
    if (!mitosis::detail::send_raw_to_parent(wire.data(), wire.size()))
      break;
    ++sent;
  }
  return sent;
}
MITOSIS_REMOTE(send_counted_actor_messages);

// -- helpers --------------------------------------------------------------------

namespace {

/// Returns the error of a request to `a` for `xs...`, expecting one.
template <class... Ts>
caf::error refusal(caf::scoped_actor& self, const caf::actor& a, Ts&&... xs) {
  caf::error out;
  self->request(a, 5s, std::forward<Ts>(xs)...)
    .receive([&](caf::message& m) { FAIL_CHECK("unexpected answer " << caf::to_string(m)); },
             [&](caf::error& e) { out = std::move(e); });
  return out;
}

/// Returns the string answer of a request, or the rendered error.
template <class... Ts>
std::string answer_of(caf::scoped_actor& self, const caf::actor& a, Ts&&... xs) {
  std::string out;
  self->request(a, 5s, std::forward<Ts>(xs)...)
    .receive([&](std::string& s) { out = std::move(s); },
             [&](caf::error& e) { out = "error: " + self->system().render(e); });
  return out;
}

/// Waits for one down_msg (or none within `limit`).
std::optional<caf::down_msg> next_down(caf::scoped_actor& self, std::chrono::milliseconds limit) {
  std::optional<caf::down_msg> out;
  self->receive([&](caf::down_msg& d) { out = std::move(d); }, caf::after(limit) >> [] {});
  return out;
}

/// Gives the master (and, with `subtree`, every context below it) the
/// default rules changed by `change`.
template <class F>
void set_rules(mitosis::master& m, F change, bool subtree = false) {
  auto r = mitosis::policy::rules::defaults();
  change(r);
  if (subtree)
    m.set_subtree_policy(r);
  else
    m.set_policy(r);
}

caf::actor actor_by_id(mitosis::master& m, const std::string& spawned) {
  REQUIRE(spawned.rfind("spawned ", 0) == 0);
  auto id = std::stoull(spawned.substr(8));
  return caf::actor_cast<caf::actor>(m.system().registry().get(static_cast<caf::actor_id>(id)));
}

} // namespace

// -- spawn rights ------------------------------------------------------------------

TEST_CASE("actor policy: a child may not spawn in its parent unless granted, per type") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "spawner.child"});
  auto refused = c.call(spawn_in, m.self(), std::string{"test.echo"}, false);
  CHECK(refused.rfind("refused " + std::to_string(static_cast<int>(errc::spawn_not_allowed)), 0)
        == 0);
  CHECK(refused.find("'test.echo'") != std::string::npos);
  CHECK(refused.find("master") != std::string::npos);

  set_rules(m, [](auto& r) { r.spawnable_by_child = {"test.echo"}; });
  auto spawned = c.call(spawn_in, m.self(), std::string{"test.echo"}, false);
  caf::scoped_actor self{m.system()};
  CHECK(answer_of(self, actor_by_id(m, spawned), std::string{"here"}) == "here");
  CHECK(c.call(spawn_in, m.self(), std::string{"test.adder"}, false).rfind("refused ", 0) == 0);
}

TEST_CASE("actor policy: a parent's spawn rights in a child are per type") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "spawnee"});
  set_rules(m, [](auto& r) { r.spawnable_by_parent = {"test.adder"}; }, true);
  auto a = c.spawn<adder>("test.adder", 1);
  caf::scoped_actor self{m.system()};
  self->request(a, 5s, 1, 2).receive([](int x) { CHECK(x == 4); },
                                     [](caf::error&) { FAIL_CHECK("adder refused"); });
  try {
    c.spawn<caf::actor>("test.echo");
    FAIL("spawn of test.echo was not refused");
  } catch (const mitosis::spawn_error& e) {
    CHECK(e.code() == errc::spawn_not_allowed);
    CHECK(e.context() == "spawnee");
    CHECK(e.actor_type() == "test.echo");
  }
}

// -- message-type rights ------------------------------------------------------

TEST_CASE("actor policy: message types are refused before decoding, requests get a typed error") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "typed.child"});
  auto a = c.spawn<caf::actor>("test.echo");
  set_rules(m, [](auto& r) { r.actor_types_from_parent = {"@str"}; }, true);
  caf::scoped_actor self{m.system()};
  CHECK(answer_of(self, a, std::string{"text passes"}) == "text passes");
  auto e = refusal(self, a, 1, 2);
  CHECK(e == errc::message_not_allowed);
  CHECK(m.system().render(e).find("'@i32'") != std::string::npos);
  CHECK(m.system().render(e).find("typed.child") != std::string::npos);

  // The master restricts what its children's actors answer: an int reply
  // is refused here, and its requester gets the error instead (the child's
  // actor_types_from_parent are back to all).
  set_rules(m, [](auto& r) { r.actor_types_from_child = {"@str"}; }, true);
  CHECK(refusal(self, a, 1, 2) == errc::message_not_allowed);
  CHECK(answer_of(self, a, std::string{"still"}) == "still");
}

// -- a hostile child ---------------------------------------------------------

TEST_CASE("actor policy: a child's forged actor frames have no effect on others") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto bad = m.local({.name = "forger"});
  auto calm = m.local({.name = "calm"});
  set_rules(m, [](auto& r) { r.actor_types_from_child = {"@str"}; });
  caf::scoped_actor self{m.system()};
  auto other = calm.spawn<caf::actor>("test.echo");
  self->monitor(other);
  // A local actor of the master that calm knows (as the sender of a tell).
  auto observer = caf::actor{self};
  auto victim = m.system().spawn([observer](caf::event_based_actor*) -> caf::behavior {
    return {
      [observer](const std::string& s) { caf::anon_send(observer, s); },
      [observer](int i) { caf::anon_send(observer, i); },
    };
  });
  self->monitor(victim);
  caf::send_as(victim, other, tell_atom::value, std::string{"x"});
  self->receive([](const std::string& s) { CHECK(s == "told: x"); });

  CHECK(bad.call(spawn_in, m.self(), std::string{"test.echo"}, false).rfind("refused ", 0) == 0);
  CHECK(bad.call(send_forged_actor_frames, calm.id(), std::uint64_t{other.id()},
                 std::uint64_t{victim.id()}));
  // The int is refused by its header's type name, not by a failed decode.
  CHECK(log.wait_for("holding (@i32) (type '@i32') from child", "not allowed by policy",
                     "refused actor_down frame from context",
                     "frame source does not live behind",
                     "ignored actor_link from context", "malformed type header"));
  CHECK(log.text.str().find("cannot deserialise") == std::string::npos);
  self->receive([](int) { FAIL_CHECK("the victim got the forged int"); },
                caf::after(200ms) >> [] {});
  // calm's actor lives on, and the forger's loss leaves the victim alone.
  CHECK(answer_of(self, other, std::string{"alive"}) == "alive");
  REQUIRE(::kill(m.pid_of(bad), SIGKILL) == 0);
  CHECK_THROWS_AS(bad.call(add, 1, 1), mitosis::context_lost);
  CHECK_FALSE(next_down(self, 300ms));
  caf::anon_send(victim, std::string{"still here"});
  self->receive([](const std::string& s) { CHECK(s == "still here"); });
  CHECK(calm.call(add, 2, 2) == 4);
  caf::anon_send_exit(victim, caf::exit_reason::user_shutdown);
}

TEST_CASE("actor policy: a child cannot find its parent's actors by counting from one it knows") {
  mitosis::master m{0, nullptr};
  auto bad = m.local({.name = "counter"});
  auto calm = m.local({.name = "calm"});
  caf::scoped_actor self{m.system()};
  auto observer = caf::actor{self};
  auto make = [&](int tag) {
    return m.system().spawn([observer, tag](caf::event_based_actor*) -> caf::behavior {
      return {
        [observer, tag](int i) { caf::anon_send(observer, tag, i); },
        [](const std::string&) {},
      };
    });
  };
  // Spawned in a row: with CAF's counter their ids would be n, n+1, n+2.
  auto hidden_before = make(1);
  auto known = make(2);
  auto hidden_after = make(3);
  CHECK(mitosis::actors::actor_ids_unguessable(m.system()));
  // Each is exported (addressable from other contexts): known to bad, the
  // others to calm (as the senders of a tell to an actor there).
  auto bads = bad.spawn<caf::actor>("test.echo");
  auto calms = calm.spawn<caf::actor>("test.echo");
  caf::send_as(known, bads, tell_atom::value, std::string{"x"});
  caf::send_as(hidden_before, calms, tell_atom::value, std::string{"x"});
  caf::send_as(hidden_after, calms, tell_atom::value, std::string{"x"});
  CHECK(bad.call(send_counted_actor_messages, std::uint64_t{known.id()}, 100) == 201);
  // Then one more to the id bad was given: the frames are looked up in
  // the order they came, so once that one arrived every counted frame
  // before it was delivered or refused. (Under TSan and a loaded machine
  // the first arrived up to 0.9 s after the call returned: 100 refusals
  // come before it.)
  CHECK(bad.call(send_counted_actor_messages, std::uint64_t{known.id()}, 0) == 1);
  // Exactly those two arrived.
  int got = 0;
  for (bool more = true; more;)
    self->receive([&](int tag, int i) {
                    CHECK(tag == 2);
                    CHECK(i == 7);
                    ++got;
                  },
                  caf::after(got < 2 ? 30s : 500ms) >> [&] { more = false; });
  CHECK(got == 2);
  for (const auto& a : {hidden_before, known, hidden_after})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// -- handles in messages -----------------------------------------------------

TEST_CASE("actor policy: a handle sent to a child introduces a sibling's actor") {
  mitosis::master m{0, nullptr};
  auto c1 = m.local({.name = "intro.a"});
  auto c2 = m.local({.name = "intro.b"});
  auto a = c1.spawn<caf::actor>("test.introducer");
  auto b = c2.spawn<caf::actor>("test.echo");
  auto sum = c2.spawn<adder>("test.adder", 100);
  caf::scoped_actor self{m.system()};

  SECTION("sibling traffic is refused by default, with a typed error") {
    auto e = refusal(self, a, ask_atom::value, b, std::string{"hi"});
    CHECK(e == errc::routing_not_allowed);
  }
  SECTION("a typed handle of the master's own actor travels and is exported") {
    auto local = m.system().spawn([]() -> adder::behavior_type {
      return {[](int x, int y) { return x + y + 1000; }};
    });
    // A can only reach it if the master made it addressable when the
    // handle left (a typed handle is seen by export_handles).
    self->request(a, 5s, ask_atom::value, local, 1, 2)
      .receive([](int x) { CHECK(x == 1003); },
               [&](caf::error& e) { FAIL_CHECK(m.system().render(e)); });
    caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  }
  SECTION("granted, A asks B directly and B answers A") {
    set_rules(m, [](auto& r) { r.sibling_routing = true; });
    CHECK(answer_of(self, a, ask_atom::value, b, std::string{"hi"}) == "hi");
    // A typed handle travels too.
    self->request(a, 5s, ask_atom::value, sum, 1, 2)
      .receive([](int x) { CHECK(x == 103); },
               [&](caf::error& e) { FAIL_CHECK(m.system().render(e)); });
  }
}

// -- actors tied to their spawner ------------------------------------------------

TEST_CASE("actor policy: an actor spawned for an owner exits with it, a detached one stays") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "tied"});
  caf::scoped_actor self{m.system()};
  auto owner = m.system().spawn([](caf::event_based_actor* me) -> caf::behavior {
    return {[me](quit_atom) { me->quit(); }};
  });
  auto tied = c.spawn<caf::actor>({.owner = owner.address()}, "test.echo");
  auto loose = c.spawn<caf::actor>(mitosis::detached, "test.echo");
  self->monitor(tied);
  self->monitor(loose);
  caf::anon_send(owner, quit_atom::value);
  auto d = next_down(self, 5000ms);
  REQUIRE(d);
  CHECK(d->source == tied.address());
  CHECK(d->reason == errc::spawner_exited);
  CHECK_FALSE(next_down(self, 300ms));
  CHECK(answer_of(self, loose, std::string{"free"}) == "free");
}

TEST_CASE("actor policy: kill -9 of the spawning context ends its tied actors, not detached ones") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "doomed.spawner"});
  set_rules(m, [](auto& r) { r.spawnable_by_child = {"*"}; });
  auto tied = actor_by_id(m, c.call(spawn_in, m.self(), std::string{"test.echo"}, false));
  auto loose = actor_by_id(m, c.call(spawn_in, m.self(), std::string{"test.echo"}, true));
  caf::scoped_actor self{m.system()};
  self->monitor(tied);
  self->monitor(loose);
  REQUIRE(::kill(m.pid_of(c), SIGKILL) == 0);
  auto d = next_down(self, 5000ms);
  REQUIRE(d);
  CHECK(d->source == tied.address());
  CHECK(d->reason == errc::context_lost);
  CHECK_FALSE(next_down(self, 300ms));
  CHECK(answer_of(self, loose, std::string{"free"}) == "free");
  caf::anon_send_exit(loose, caf::exit_reason::user_shutdown);
}

TEST_CASE("actor policy: kill -9 of a sibling that spawned here ends its tied actors") {
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "sib.spawner"});
  auto b = m.local({.name = "sib.host"});
  set_rules(m, [](auto& r) { r.sibling_routing = true; });
  auto id_of = [](const std::string& spawned) {
    REQUIRE(spawned.rfind("spawned ", 0) == 0);
    return static_cast<std::uint64_t>(std::stoull(spawned.substr(8)));
  };
  auto tied = id_of(a.call(spawn_in, b, std::string{"test.echo"}, false));
  auto loose = id_of(a.call(spawn_in, b, std::string{"test.echo"}, true));
  REQUIRE(b.call(watch_actor, tied));
  REQUIRE(b.call(watch_actor, loose));
  REQUIRE(::kill(m.pid_of(a), SIGKILL) == 0);
  // The master learns the loss and tells b, which ends the tied actor.
  auto why = b.call(watched_exit, tied, 5000);
  CHECK(why.find("context lost") != std::string::npos);
  CHECK(why.find("sib.spawner") != std::string::npos);
  CHECK(b.call(watched_exit, loose, 300) == "alive");
}
