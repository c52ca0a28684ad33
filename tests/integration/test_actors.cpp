// The actor types of test_actors.hpp, registered in every copy.
#include "test_actors.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <unistd.h>

#include "mitosis/actors/actor_registry.hpp"

namespace {

// "test.echo" (dynamically typed): echoes strings, adds ints, tells its
// pid, answers `tell` with a message of its own to the sender, never
// answers `hang`, quits with reason (code, category "test") on `quit`, and
// links itself to (unlinks itself from) the sender of `linkme` (`unlinkme`).
caf::behavior echo_actor(caf::event_based_actor* self) {
  return {
    [](const std::string& s) { return s; },
    [](int a, int b) { return a + b; },
    [](pid_atom) { return static_cast<int>(::getpid()); },
    [self](tell_atom, const std::string& s) {
      self->send(caf::actor_cast<caf::actor>(self->current_sender()), "told: " + s);
    },
    [self](hang_atom) {
      // A response promise never delivered: the requester waits.
      auto rp = self->make_response_promise<int>();
      (void)rp;
    },
    [self](quit_atom, int code) {
      self->quit(caf::error{static_cast<std::uint8_t>(code), caf::atom("test")});
    },
    [self](link_me_atom) {
      self->link_to(self->current_sender());
      return true;
    },
    [self](unlink_me_atom) {
      self->unlink_from(self->current_sender());
      return true;
    },
  };
}

adder::behavior_type adder_actor(adder::pointer, int offset) {
  return {
    [offset](int a, int b) { return a + b + offset; },
  };
}

// "test.mover": moves the points it is sent by the step it was spawned with.
caf::behavior mover_actor(caf::event_based_actor*, point step) {
  return {
    [step](const point& p) { return point{p.x + step.x, p.y + step.y}; },
  };
}

// "test.brief": exits with (code, "test") as soon as it starts.
caf::behavior brief_actor(caf::event_based_actor* self, int code) {
  self->quit(caf::error{static_cast<std::uint8_t>(code), caf::atom("test")});
  return {};
}

// "test.watcher": monitors the senders of `watch` (or the actor it names)
// and reports each down
// message (watched_atom, reason) to the last sender of `subscribe`.
caf::behavior watcher_actor(caf::event_based_actor* self) {
  auto subscriber = std::make_shared<caf::actor>();
  self->set_down_handler([self, subscriber](caf::down_msg& d) {
    self->send(*subscriber, watched_atom::value, d.reason);
  });
  return {
    [self, subscriber](subscribe_atom) {
      *subscriber = caf::actor_cast<caf::actor>(self->current_sender());
      return true;
    },
    [self](watch_atom) {
      self->monitor(self->current_sender());
      return true;
    },
    [self](watch_atom, const caf::actor& a) {
      self->monitor(a);
      return true;
    },
  };
}

// "test.introducer": asks the actor it is handed (a caf::actor or a typed
// adder) and answers with that actor's answer, or with the error it got.
caf::behavior introducer_actor(caf::event_based_actor* self) {
  return {
    [self](ask_atom, const caf::actor& other, const std::string& s) {
      auto rp = self->make_response_promise<std::string>();
      self->request(other, std::chrono::seconds{5}, s)
        .then([rp](const std::string& r) mutable { rp.deliver(r); },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [self](ask_atom, const adder& other, int a, int b) {
      auto rp = self->make_response_promise<int>();
      self->request(other, std::chrono::seconds{5}, a, b)
        .then([rp](int r) mutable { rp.deliver(r); },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
  };
}

// "test.flooder": sends the actor it is handed `n` one-way ints (0 .. n-1)
// and answers `n` once they are all sent.
caf::behavior flooder_actor(caf::event_based_actor* self) {
  return {
    [self](flood_atom, const caf::actor& target, int n) {
      for (int i = 0; i < n; ++i)
        self->send(target, i);
      return n;
    },
  };
}

// "test.counter": counts the strings it is sent, taking 500 us for each (a
// reader slower than its sender), and answers the count on `count`.
caf::behavior counter_actor(caf::event_based_actor*) {
  auto n = std::make_shared<int>(0);
  return {
    [n](const std::string&) {
      std::this_thread::sleep_for(std::chrono::microseconds{500});
      ++*n;
    },
    [n](count_atom) { return *n; },
  };
}

} // namespace

MITOSIS_ACTOR("test.counter", counter_actor);
MITOSIS_ACTOR("test.flooder", flooder_actor);
MITOSIS_ACTOR("test.introducer", introducer_actor);
MITOSIS_ACTOR("test.watcher", watcher_actor);
MITOSIS_ACTOR("test.brief", brief_actor);
MITOSIS_ACTOR_MESSAGE_TYPE(point);
MITOSIS_ACTOR("test.mover", mover_actor);
MITOSIS_ACTOR("test.echo", echo_actor);
MITOSIS_ACTOR("test.adder", adder_actor);
