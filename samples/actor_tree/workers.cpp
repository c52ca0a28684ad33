// The actors of the children and grandchildren: a worker starts its own
// sub-workers' contexts below itself (a tree built from below), spawns a
// sub-worker in each without blocking, and splits its share among them;
// a sub-worker counts the words of the files it is given.
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <unistd.h>

#include "mitosis/actors/remote_actor.hpp"
#include "tree.hpp"

namespace tree {

std::uint64_t count_words(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::uint64_t n = 0;
  bool in_word = false;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof(buf));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      bool space = buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r'
                   || buf[i] == '\v' || buf[i] == '\f';
      if (!space && !in_word)
        ++n;
      in_word = !space;
    }
  }
  return n;
}

std::vector<std::string> list_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator i{dir, fs::directory_options::skip_permission_denied, ec}, end;
       !ec && i != end; i.increment(ec))
    if (i->is_regular_file(ec))
      out.push_back(i->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::string whoami() {
  return mitosis::this_context().name() + " pid " + std::to_string(::getpid());
}

// "tree.sub": (count_atom, files) -> (words, files, who).
caf::behavior sub_worker(caf::event_based_actor*) {
  return {
    [](count_atom, const std::vector<std::string>& files) {
      std::uint64_t words = 0;
      for (auto& f : files)
        words += count_words(f);
      return caf::make_message(words, static_cast<std::uint64_t>(files.size()), whoami());
    },
  };
}

struct worker_state {
  std::vector<caf::actor> subs;
};

// "tree.worker" (subs): (setup_atom) starts `subs` local contexts below its
// own, spawns a tree.sub in each, tells the requester of each (sub_atom,
// handle, who) and answers who it is; (count_atom, files) splits the files
// among the sub-workers and answers (words, files, report).
caf::behavior worker(caf::stateful_actor<worker_state>* self, int subs) {
  return {
    [self, subs](setup_atom) -> caf::result<std::string> {
      // Before the promise: making it takes the sender out of the message.
      auto boss = caf::actor_cast<caf::actor>(self->current_sender());
      auto rp = self->make_response_promise<std::string>();
      auto me = mitosis::this_context().name();
      auto left = std::make_shared<int>(subs);
      for (int i = 1; i <= subs; ++i) {
        // Neither the start nor the spawn blocks this actor's thread.
        auto failed = [rp](caf::error& e) mutable { rp.deliver(e); };
        mitosis::start_local_async(self, {.name = me + ".s" + std::to_string(i)})
          .then(
            [self, rp, boss, left, failed](mitosis::context c) mutable {
              c.spawn_async<caf::actor>(self, "tree.sub")
                .then(
                  [self, rp, boss, left, c](caf::actor s) mutable {
                    self->state.subs.push_back(s);
                    self->send(boss, sub_atom::value, s, c.name(), mitosis::pid_of(c));
                    if (--*left == 0)
                      rp.deliver(whoami());
                  },
                  failed);
            },
            failed);
      }
      return rp;
    },
    [self](count_atom, const std::vector<std::string>& files) -> caf::result<caf::message> {
      auto& subs = self->state.subs;
      if (subs.empty())
        return caf::make_error(caf::sec::invalid_argument, "worker not set up");
      auto rp = self->make_response_promise();
      struct acc {
        std::uint64_t words = 0, files = 0;
        std::string report;
        std::size_t left;
      };
      auto a = std::make_shared<acc>(acc{0, 0, "", subs.size()});
      for (std::size_t i = 0; i < subs.size(); ++i) {
        std::vector<std::string> part;
        for (std::size_t j = i; j < files.size(); j += subs.size())
          part.push_back(files[j]);
        self->request(subs[i], caf::infinite, count_atom::value, std::move(part))
          .then(
            [rp, a](std::uint64_t w, std::uint64_t n, std::string& who) mutable {
              a->words += w;
              a->files += n;
              a->report += "      " + who + ": " + std::to_string(n) + " files, "
                           + std::to_string(w) + " words\n";
              if (--a->left == 0)
                rp.deliver(a->words, a->files, whoami(), a->report);
            },
            [rp](caf::error& e) mutable { rp.deliver(e); });
      }
      return rp;
    },
  };
}

} // namespace

MITOSIS_ACTOR("tree.sub", sub_worker);
MITOSIS_ACTOR("tree.worker", worker);

} // namespace tree
