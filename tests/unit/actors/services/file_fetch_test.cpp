// Unit tests of file_service::fetch against a server the test plays (the
// parent end of an agent's stream): a chunk must be the one asked for, and
// the part file is the fetch's own.
#include "mitosis/actors/services/file_service.hpp"

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <future>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "mitosis/actors/errors.hpp"
#include "../../router/socketpair_peer.hpp"

using namespace mitosis::test;
namespace rt = mitosis::router;
namespace svc = mitosis::actors::services;

namespace {

constexpr context_id self = 5;
constexpr std::uint64_t chunk = svc::file_store::max_chunk;

/// An agent's services over a parent stream the test plays: the server of
/// the files it fetches.
struct fetcher {
  recording_delivery out; // the services handle every frame; nothing is recorded
  test_config cfg = [] {
    auto c = agent_config(self);
    c.request_timeout = std::chrono::milliseconds{2000};
    return c;
  }();
  rt::router r{static_cast<const rt::router_config&>(cfg), static_cast<const rt::options&>(cfg),
               out};
  socketpair_peer parent;
  mitosis::actors::pending_calls pending;
  mitosis::actors::dispatcher pool{1};
  svc::core core{r, pending, pool};
  svc::file_service files{core};
  std::string dir;

  fetcher() {
    attach(r, parent, parent_options(rt::master_id));
    r.start();
    char tpl[] = "/tmp/mitosis-fetch-XXXXXX";
    dir = ::mkdtemp(tpl);
  }
  ~fetcher() {
    pool.stop();
    core.stop_service_pool();
    r.stop();
    (void) std::system(("rm -rf " + dir).c_str());
  }

  /// Reads the next file_request and answers it with `c`.
  mitosis::serialization::file_request_info serve(const mitosis::serialization::file_chunk_info& c) {
    auto f = parent.read_frame();
    REQUIRE(f);
    REQUIRE(f->hdr.type == mitosis::serialization::to_u32(wire_type::file_request));
    mitosis::serialization::file_request_info req;
    mitosis::serialization::decode_exact(f->payload.data(), f->payload.size(), req);
    auto wire = mitosis::serialization::frame_builder{
      mitosis::serialization::make_header(wire_type::file_chunk, self, rt::master_id,
                                          f->hdr.reply_to)}
                  .add(c)
                  .finish();
    REQUIRE(parent.write(wire));
    return req;
  }

  /// Fetches "/f" into `local` in the background.
  std::future<void> fetch_async(const std::string& local) {
    return std::async(std::launch::async, [this, local] { files.fetch(0, "server", "/f", local); });
  }

  /// What is left in the directory the fetch wrote to.
  std::string listing() const {
    std::string out;
    for (auto* p = ::opendir(dir.c_str()); p;) {
      auto* e = ::readdir(p);
      if (!e) {
        ::closedir(p);
        break;
      }
      if (std::string n = e->d_name; n != "." && n != "..")
        out += n + " ";
    }
    return out;
  }
};

mitosis::serialization::file_chunk_info chunk_of(std::uint64_t size, std::uint64_t offset,
                                                 std::size_t bytes) {
  return {size, offset, std::vector<char>(bytes, 'x')};
}

} // namespace

TEST_CASE("fetch: a chunk at another offset than asked is refused and nothing is kept",
          "[file_service]") {
  fetcher t;
  auto done = t.fetch_async(t.dir + "/copy");
  SECTION("the first chunk, placed a terabyte out") {
    CHECK(t.serve(chunk_of(10, std::uint64_t{1} << 40, 10)).offset == 0);
  }
  SECTION("a later chunk, placed over the first") {
    CHECK(t.serve(chunk_of(chunk + 10, 0, chunk)).offset == 0);
    CHECK(t.serve(chunk_of(chunk + 10, 0, 10)).offset == chunk);
  }
  try {
    done.get();
    FAIL("the fetch succeeded");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::protocol_error);
    CHECK_THAT(e.what(), Catch::Matchers::Contains("bad chunk of /f"));
  }
  CHECK(t.listing().empty());
}

TEST_CASE("fetch: a chunk with more or fewer bytes than the file has there is refused",
          "[file_service]") {
  fetcher t;
  auto done = t.fetch_async(t.dir + "/copy");
  SECTION("more than the file's size") {
    t.serve(chunk_of(10, 0, 20));
  }
  SECTION("more than a chunk") {
    t.serve(chunk_of(4 * chunk, 0, chunk + 1));
  }
  SECTION("fewer, for a file that does not shrink") {
    t.serve(chunk_of(chunk + 10, 0, chunk));
    t.serve(chunk_of(chunk + 10, chunk, 9));
  }
  CHECK_THROWS_WITH(done.get(), Catch::Matchers::Contains("bad chunk of /f"));
  CHECK(t.listing().empty());
}

TEST_CASE("fetch: the part file is created by the fetch, never through a link left for it",
          "[file_service]") {
  fetcher t;
  const auto local = t.dir + "/copy";
  const auto victim = t.dir + "/victim";
  std::ofstream{victim} << "untouched";
  // The part file's old, predictable name.
  REQUIRE(::symlink(victim.c_str(), (local + ".mitosis-part").c_str()) == 0);
  auto done = t.fetch_async(local);
  auto c = chunk_of(5, 0, 0);
  c.bytes = {'h', 'e', 'l', 'l', 'o'};
  t.serve(c);
  done.get();
  std::ifstream v{victim}, l{local};
  std::string vs, ls;
  v >> vs;
  l >> ls;
  CHECK(vs == "untouched");
  CHECK(ls == "hello");
  struct stat st {};
  REQUIRE(::lstat(local.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
}
