// Plugin modules across two hops: fetched on first use from the parent,
// cached at the intermediate, refused by import_blocks and by
// import_overrides, preloaded down a subtree.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

#include <caf/scoped_actor.hpp>

#include "captured_log.hpp"
#include "mitosis/actors/remote_actor.hpp"
#include "mitosis/actors/runtime.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

namespace {

const mitosis::remote<int(std::string)> count_lines{"inventory", "count_lines"};
const mitosis::remote<std::string()> plugin_version{"inventory", "plugin_version"};

/// A master that offers the sample plugin as "inventory" (under `policy`,
/// when given), a child `mid` and a grandchild `gc` below it.
struct plugin_tree {
  mitosis::master m{0, nullptr};
  mitosis::context mid;
  mitosis::context gc;

  plugin_tree(const std::string& mid_name, const std::string& gc_name,
              const std::optional<mitosis::policy::rules>& policy = std::nullopt)
    : mid{offer_plugin_then_start(mid_name, policy)},
      gc{m.local({.name = gc_name, .via = mid})} {}

private:
  mitosis::context offer_plugin_then_start(const std::string& name,
                                           const std::optional<mitosis::policy::rules>& policy) {
    m.add_plugin("inventory", MITOSIS_SAMPLE_PLUGIN);
    if (policy)
      m.set_policy(*policy);
    return m.local({.name = name});
  }
};

} // namespace

TEST_CASE("a grandchild fetches a plugin through its parent which caches it") {
  mitosis::master m{0, nullptr};
  m.add_plugin("inventory", MITOSIS_SAMPLE_PLUGIN);
  auto mid = m.local({.name = "plug.mid"});
  auto gc1 = m.local({.name = "plug.gc1", .via = mid});
  auto gc2 = m.local({.name = "plug.gc2", .via = mid});
  std::ofstream{"/tmp/mitosis-plugin-lines.txt"} << "a\nb\nc\n";
  CHECK(gc1.call(count_lines, "/tmp/mitosis-plugin-lines.txt") == 3);
  CHECK(gc1.call(plugin_version) == "inventory 1.0");
  CHECK(gc2.call(plugin_version) == "inventory 1.0");
  // The master sent the module once: the intermediate served gc2 itself.
  CHECK(m.runtime().modules_served() == 1);
  // The master never loaded it: only the contexts that needed it did.
  CHECK(mid.call(plugin_version) == "inventory 1.0");
  CHECK(m.runtime().modules_served() == 1);
}

TEST_CASE("import_blocks refuses a plugin with module_denied naming the module and rule") {
  captured_log log;
  auto r = mitosis::policy::rules::defaults();
  r.import_blocks.insert("inventory");
  plugin_tree t{"blocked.mid", "blocked.gc", r};
  try {
    t.gc.call(plugin_version);
    FAIL("no exception");
  } catch (const mitosis::module_denied& e) {
    CHECK(std::string{e.what()}.find("module 'inventory' refused by import_blocks") != std::string::npos);
    CHECK(e.code() == mitosis::errc::module_denied);
  }
  CHECK(log.wait_for("refused by import_blocks"));
  CHECK(t.m.runtime().modules_served() == 0);
}

TEST_CASE("a non-empty import_overrides serves only the modules it names") {
  auto r = mitosis::policy::rules::defaults();
  r.import_overrides.insert("something_else");
  plugin_tree t{"overrides.c", "overrides.gc", r};
  CHECK_THROWS_WITH(t.gc.call(plugin_version),
                    Catch::Matchers::Contains("refused by import_overrides"));
  // The rules were inherited at boot: change them for the whole tree.
  r.import_overrides.insert("inventory");
  t.m.set_subtree_policy(r);
  CHECK(t.gc.call(plugin_version) == "inventory 1.0");
}

TEST_CASE("importable_by_context gives one child, and what is behind it, its own import rights") {
  mitosis::master m{0, nullptr};
  m.add_plugin("inventory", MITOSIS_SAMPLE_PLUGIN);
  auto narrow = m.local({.name = "imp.narrow"});
  auto wide = m.local({.name = "imp.wide"});
  auto below = m.local({.name = "imp.below", .via = narrow});
  auto r = mitosis::policy::rules::defaults();
  r.importable_by_context[narrow.id()] = {"something_else"};
  m.set_policy(r); // the master's own: it serves the modules
  const auto rule = "refused by importable_by_context." + std::to_string(narrow.id());
  CHECK_THROWS_WITH(narrow.call(plugin_version), Catch::Matchers::Contains(rule));
  // Its subtree fetches through it, so is bound by it too.
  CHECK_THROWS_WITH(below.call(plugin_version), Catch::Matchers::Contains(rule));
  // A preload is no way around it.
  CHECK_THROWS_WITH(m.preload_plugin(narrow, "inventory"), Catch::Matchers::Contains(rule));
  // Its sibling has no entry: the policy alone, which allows it.
  CHECK(wide.call(plugin_version) == "inventory 1.0");
  r.importable_by_context[narrow.id()].insert("inventory");
  m.set_policy(r);
  CHECK(narrow.call(plugin_version) == "inventory 1.0");
}

TEST_CASE("a preloaded plugin reaches the whole subtree before any call") {
  plugin_tree t{"pre.mid", "pre.gc"};
  t.m.preload_plugin(t.mid, "inventory");
  CHECK(t.gc.call(plugin_version) == "inventory 1.0");
  CHECK(t.mid.call(plugin_version) == "inventory 1.0");
  CHECK(t.m.runtime().modules_served() == 0);
}

TEST_CASE("a function of an unknown module fails with a clear error") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "nomod"});
  const mitosis::remote<int()> ghost{"nosuchmodule", "f"};
  CHECK_THROWS_WITH(c.call(ghost), Catch::Matchers::Contains("no plugin module 'nosuchmodule'"));
}

TEST_CASE("a preload obeys the import policy and needs a direct child") {
  mitosis::master m{0, nullptr};
  m.add_plugin("inventory", MITOSIS_SAMPLE_PLUGIN);
  CHECK_THROWS_AS(m.add_plugin("inventory2", MITOSIS_SAMPLE_PLUGIN), mitosis::error);
  CHECK_THROWS_AS(m.add_plugin("bad|name", MITOSIS_SAMPLE_PLUGIN), mitosis::error);
  auto r = mitosis::policy::rules::defaults();
  r.import_blocks.insert("inventory");
  m.set_policy(r);
  auto mid = m.local({.name = "prepol.mid"});
  auto gc = m.local({.name = "prepol.gc", .via = mid});
  CHECK_THROWS_AS(m.preload_plugin(mid, "inventory"), mitosis::module_denied);
  CHECK_THROWS_AS(gc.call(plugin_version), mitosis::module_denied);
  try {
    m.preload_plugin(gc, "inventory");
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::no_route);
  }
}

TEST_CASE("an actor type of a plugin module is fetched on its first spawn, under import rights") {
  using namespace std::chrono_literals;
  const std::string file = "/tmp/mitosis-plugin-actor-" + std::to_string(::getpid());
  std::ofstream{file} << "a\nb\nc\n";
  SECTION("allowed: spawned two hops down, it answers") {
    plugin_tree t{"pa.mid", "pa.gc"};
    auto a = t.gc.spawn<caf::actor>("inventory|line_counter");
    caf::scoped_actor self{t.m.system()};
    int lines = -1;
    self->request(a, 10s, file).receive([&](int n) { lines = n; },
                                        [&](caf::error& e) { FAIL_CHECK(t.m.system().render(e)); });
    CHECK(lines == 3);
    CHECK(t.m.runtime().modules_served() >= 1);
  }
  SECTION("import_blocks: the spawn fails naming the module and the rule") {
    auto r = mitosis::policy::rules::defaults();
    r.import_blocks.insert("inventory");
    plugin_tree t{"pb.mid", "pb.gc", r};
    try {
      t.gc.spawn<caf::actor>("inventory|line_counter");
      FAIL("no exception");
    } catch (const mitosis::error& e) {
      CHECK(e.code() == mitosis::errc::module_denied);
      CHECK(std::string{e.what()}.find("import_blocks") != std::string::npos);
    }
  }
  std::remove(file.c_str());
}

namespace {

/// A copy of the sample plugin with `tag` appended: the same code (the
/// loader ignores bytes past the ELF's segments), another sha256.
std::string plugin_copy(const std::string& tag) {
  const auto path = "/tmp/mitosis-plugin-" + std::to_string(::getpid()) + "-" + tag + ".so";
  std::ifstream in{MITOSIS_SAMPLE_PLUGIN, std::ios::binary};
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << in.rdbuf() << tag;
  return path;
}

} // namespace

TEST_CASE("a module request is served while every call worker of the intermediate waits on it") {
  using namespace std::chrono_literals;
  mitosis::master_options o;
  o.pool_threads = 2;
  o.request_timeout = 3s;
  mitosis::master m{0, nullptr, o};
  m.add_plugin("inventory", MITOSIS_SAMPLE_PLUGIN);
  auto mid = m.local({.name = "busy.mid"});
  auto gc = m.local({.name = "busy.gc", .via = mid});
  // Both of mid's call workers call into gc, whose calls need the module
  // from mid: mid serves it on a worker of its own.
  auto one = mid.call_async(child_plugin_version, gc.id(), 8000);
  auto two = mid.call_async(child_plugin_version, gc.id(), 8000);
  CHECK(one.get() == "inventory 1.0");
  CHECK(two.get() == "inventory 1.0");
}

TEST_CASE("a cached module is served while a fetch of another waits on a stopped parent") {
  using namespace std::chrono_literals;
  mitosis::master_options o;
  o.request_timeout = 4s;
  o.heartbeat_interval = 0ms; // the parent is stopped on purpose
  mitosis::master m{0, nullptr, o};
  m.add_plugin("inventory", MITOSIS_SAMPLE_PLUGIN);
  const auto slow = plugin_copy("slow");
  m.add_plugin("slowmod", slow);
  auto a = m.local({.name = "stall.a"});
  auto i = m.local({.name = "stall.i", .via = a});
  auto c = m.local({.name = "stall.c", .via = i});
  REQUIRE(i.call(plugin_version) == "inventory 1.0"); // i holds "inventory" now
  // While i waits for "slowmod" from its stopped parent, c gets
  // "inventory" from i at once.
  CHECK(i.call(load_while_parent_stopped, m.pid_of(a), std::string{"slowmod"}, c.id(), 2000)
        == "inventory 1.0; pending; loaded");
  std::remove(slow.c_str());
}

TEST_CASE("a loaded module is known by name and content: other content under its name is refused") {
  mitosis::master m{0, nullptr};
  m.add_plugin("inventory", MITOSIS_SAMPLE_PLUGIN);
  auto mid = m.local({.name = "sha.mid"});
  auto gc = m.local({.name = "sha.gc", .via = mid});
  CHECK(gc.call(plugin_version) == "inventory 1.0");
  CHECK(mid.call(plugin_version) == "inventory 1.0");
  // The same name, other content: a context that loaded the first says so
  // instead of taking the second for loaded.
  const auto changed = plugin_copy("v2");
  m.add_plugin("inventory", changed);
  try {
    m.preload_plugin(mid, "inventory");
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::file_error);
    CHECK_THAT(e.what(), Catch::Matchers::Contains("cannot replace the module of that name loaded "
                                                   "at context 'sha.mid'"));
  }
  // A context that never had it loads the new content.
  auto fresh = m.local({.name = "sha.fresh"});
  CHECK(fresh.call(plugin_version) == "inventory 1.0");
  CHECK(m.runtime().modules_served() == 2);
  std::remove(changed.c_str());
}
