// The supervisor (an actor in the master): spawns a worker in each worker
// context, lets each build its subtree from below, prints the tree, hands
// out the shares, kills one intermediate with SIGKILL, prints the down
// messages that follow, restarts the lost subtree and has its share
// counted again, then answers with the totals.
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <csignal>
#include <cstdio>
#include <map>
#include <unistd.h>

#include "mitosis/actors/remote_actor.hpp"
#include "tree.hpp"

namespace tree {

namespace {

struct slot {
  mitosis::context ctx;
  caf::actor worker;
  std::string who;       // "<context> pid <pid>"
  int pid = 0;
  int generation = 0;
  std::vector<std::string> subs; // "<context> pid <pid>" of each sub-worker
  bool ready = false;
  bool done = false;
  std::uint64_t words = 0, files = 0;
  std::string report;
};

struct sup_state {
  const plan* p = nullptr;
  std::vector<slot> slots;
  std::map<caf::actor_addr, std::string> names; // monitored actor -> who
  caf::response_promise answer;
  bool started = false;
  bool killed = false;
};

using sup = caf::stateful_actor<sup_state>;

void finish_if_done(sup* self) {
  auto& st = self->state;
  // With a victim, wait for its subtree's restart too, so that the output
  // shows the whole story whichever came first.
  auto v = st.p->victim;
  if (st.killed && (st.slots[static_cast<std::size_t>(v)].generation == 0
                    || !st.slots[static_cast<std::size_t>(v)].ready))
    return;
  totals t;
  for (auto& s : st.slots) {
    if (!s.done)
      return;
    t.words += s.words;
    t.files += s.files;
  }
  std::printf("\nresults:\n");
  for (auto& s : st.slots)
    std::printf("  %s: %llu files, %llu words\n%s", s.who.c_str(),
                static_cast<unsigned long long>(s.files), static_cast<unsigned long long>(s.words),
                s.report.c_str());
  std::fflush(stdout);
  st.answer.deliver(t.words, t.files);
}

void dispatch(sup* self, std::size_t i) {
  auto& s = self->state.slots[i];
  auto gen = s.generation;
  self->request(s.worker, caf::infinite, count_atom::value, self->state.p->shares[i])
    .then(
      [self, i, gen](std::uint64_t w, std::uint64_t n, std::string&, std::string& report) {
        auto& s = self->state.slots[i];
        if (s.generation != gen || s.done)
          return;
        s.words = w;
        s.files = n;
        s.report = std::move(report);
        s.done = true;
        finish_if_done(self);
      },
      [self, i, gen](caf::error& e) {
        std::printf("share %zu (generation %d) failed: %s\n", i + 1, gen,
                    self->system().render(e).c_str());
      });
}

void print_tree(sup* self) {
  std::printf("tree:\n  supervisor: %s pid %d\n", mitosis::this_context().name().c_str(), ::getpid());
  for (auto& s : self->state.slots) {
    std::printf("  `-- worker %s\n", s.who.c_str());
    for (auto& w : s.subs)
      std::printf("      `-- sub-worker %s\n", w.c_str());
  }
  std::fflush(stdout);
}

void all_ready(sup* self);

// Starts (again) the subtree of worker `i`: its context, the worker, and
// the worker's own sub-workers' contexts below it.
void start_subtree(sup* self, std::size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  s.ready = false;
  s.subs.clear();
  // Blocks this CAF worker for the start (a few ms locally); the spawn below does not.
  s.ctx = st.p->start_worker(static_cast<int>(i), s.generation);
  auto gen = s.generation;
  s.ctx.spawn_async<caf::actor>(self, "tree.worker", st.p->subs)
    .then(
      [self, i, gen](caf::actor w) {
        auto& s = self->state.slots[i];
        s.worker = w;
        self->monitor(w);
        self->request(w, caf::infinite, setup_atom::value)
          .then(
            [self, i, gen, w](std::string& who) {
              auto& s = self->state.slots[i];
              s.who = who;
              s.pid = std::stoi(who.substr(who.rfind(' ') + 1));
              self->state.names[w.address()] = "worker " + who;
              s.ready = true;
              if (gen == 0)
                all_ready(self);
              else if (s.done) {
                std::printf("restarted: worker %s with %zu sub-workers; share %zu was counted "
                            "before the kill\n", who.c_str(), s.subs.size(), i + 1);
                finish_if_done(self);
              } else {
                std::printf("restarted: worker %s with %zu sub-workers; counting share %zu again\n",
                            who.c_str(), s.subs.size(), i + 1);
                dispatch(self, i);
              }
            },
            [self](caf::error& e) {
              std::printf("setup failed: %s\n", self->system().render(e).c_str());
              self->state.answer.deliver(e);
            });
      },
      [self](caf::error& e) {
        std::printf("spawn failed: %s\n", self->system().render(e).c_str());
        self->state.answer.deliver(e);
      });
}

void all_ready(sup* self) {
  auto& st = self->state;
  for (auto& s : st.slots)
    if (!s.ready)
      return;
  print_tree(self);
  for (std::size_t i = 0; i < st.slots.size(); ++i)
    dispatch(self, i);
  auto v = st.p->victim;
  if (v >= 0 && static_cast<std::size_t>(v) < st.slots.size()) {
    auto& s = st.slots[static_cast<std::size_t>(v)];
    std::printf("\nkilling the intermediate %s with SIGKILL\n", s.who.c_str());
    std::fflush(stdout);
    st.killed = true;
    ::kill(s.pid, SIGKILL);
  }
}

caf::behavior supervisor(sup* self, const plan* p) {
  self->state.p = p;
  self->state.slots.resize(p->shares.size());
  self->set_down_handler([self](caf::down_msg& d) {
    auto& st = self->state;
    auto i = st.names.find(d.source);
    auto who = i == st.names.end() ? caf::to_string(d.source) : i->second;
    std::printf("down: %s: %s\n", who.c_str(), self->system().render(d.reason).c_str());
    std::fflush(stdout);
    for (std::size_t k = 0; k < st.slots.size(); ++k)
      if (st.slots[k].worker && st.slots[k].worker.address() == d.source) {
        ++st.slots[k].generation;
        start_subtree(self, k);
      }
  });
  return {
    [self](run_atom) -> caf::result<std::uint64_t, std::uint64_t> {
      auto& st = self->state;
      st.answer = self->make_response_promise();
      if (!st.started) {
        st.started = true;
        for (std::size_t i = 0; i < st.slots.size(); ++i)
          start_subtree(self, i);
      }
      return st.answer;
    },
    [self](sub_atom, const caf::actor& s, const std::string& ctx, int pid) {
      auto& st = self->state;
      auto who = ctx + " pid " + std::to_string(pid);
      st.names[s.address()] = "sub-worker " + who;
      self->monitor(s);
      for (auto& slot : st.slots)
        if (slot.worker
            && slot.worker.address() == caf::actor_cast<caf::actor_addr>(self->current_sender()))
          slot.subs.push_back(who);
    },
  };
}

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, const plan* p) {
  return sys.spawn(supervisor, p);
}

} // namespace tree
