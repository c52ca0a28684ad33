// Unit tests of the policy rule set: defaults, call rights, type filters and
// the encoding sent in a boot frame.
#include "mitosis/policy/rules.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <unistd.h>

#include "../errc_string_maker.hpp"
#include "../test_support.hpp"

#include "mitosis/serialization/archive.hpp"
#include "mitosis/serialization/type_registry.hpp"


using mitosis::errc;
using mitosis::policy::direction;
using mitosis::policy::rules;
using mitosis::serialization::decode_error;
using mitosis::serialization::to_u32;
using mitosis::serialization::type_registry;
using mitosis::serialization::wire_type;

namespace {

/// Returns the code of the decode_error rules::decode throws, or errc::none.
errc decode_failure(const std::vector<char>& bytes) {
  try {
    rules::decode(bytes);
  } catch (const decode_error& e) {
    return e.code();
  }
  return errc::none;
}

} // namespace

TEST_CASE("rules: to_string names the direction", "[rules]") {
  CHECK(std::string{to_string(direction::from_parent)} == "parent");
  CHECK(std::string{to_string(direction::from_child)} == "child");
}

TEST_CASE("rules: by default the parent may call and a child may not", "[rules]") {
  auto r = rules::defaults();
  CHECK(r.parent_may_call);
  CHECK(r.allows_call(direction::from_parent, "anything"));
  CHECK(r.child_callable.empty());
  CHECK_FALSE(r.allows_call(direction::from_child, "anything"));
  CHECK_FALSE(r.allows_call(direction::from_child, "*"));
  CHECK_FALSE(r.allows_call(direction::from_child, ""));
  CHECK_FALSE(r.sibling_routing);
}

TEST_CASE("rules: a default-constructed rule set decodes nothing", "[rules]") {
  rules r;
  for (std::uint32_t t = 0; t <= type_registry::max_id() + 1; ++t) {
    CHECK_FALSE(r.allows_type(direction::from_parent, t));
    CHECK_FALSE(r.allows_type(direction::from_child, t));
  }
}

TEST_CASE("rules: child_callable grants by name or by *", "[rules]") {
  auto r = rules::defaults();
  SECTION("a name") {
    r.child_callable = {"add"};
    CHECK(r.allows_call(direction::from_child, "add"));
    CHECK_FALSE(r.allows_call(direction::from_child, "sub"));
    CHECK_FALSE(r.allows_call(direction::from_child, "ad"));
    CHECK_FALSE(r.allows_call(direction::from_child, "add "));
  }
  SECTION("*") {
    r.child_callable = {"*"};
    CHECK(r.allows_call(direction::from_child, "add"));
    CHECK(r.allows_call(direction::from_child, "anything::at_all"));
  }
  SECTION("parent rights are separate from child rights") {
    r.child_callable = {"*"};
    r.parent_may_call = false;
    CHECK_FALSE(r.allows_call(direction::from_parent, "add"));
    CHECK(r.allows_call(direction::from_child, "add"));
  }
}

TEST_CASE("rules: default type filters differ per direction", "[rules]") {
  auto r = rules::defaults();
  auto from_parent = [&](wire_type t) { return r.allows_type(direction::from_parent, to_u32(t)); };
  auto from_child = [&](wire_type t) { return r.allows_type(direction::from_child, to_u32(t)); };

  struct expectation {
    wire_type type;
    bool from_parent;
    bool from_child;
  };
  // Whether frames of each type are decoded from the parent and from a child.
  const expectation expected[] = {
    // Only the master hands out ids; only a parent boots or shuts down.
    {wire_type::id_request, false, true},  {wire_type::boot, true, false},
    {wire_type::shutdown, true, false},    {wire_type::rules_update, true, false},
    {wire_type::id_grant, true, false},    {wire_type::spawn_request, true, false},
    // Either side may ask to spawn (spawn rights decide); the answer comes
    // back either way. Only a parent reports losses of other contexts.
    {wire_type::actor_spawn, true, true}, {wire_type::actor_spawned, true, true},
    {wire_type::actor_lost, true, false},
    // Both sides answer calls and report routes.
    {wire_type::call_request, true, true}, {wire_type::call_reply, true, true},
    {wire_type::call_error, true, true},   {wire_type::dead, true, true},
    {wire_type::route_add, true, true},    {wire_type::route_del, true, true},
    {wire_type::actor_message, true, true}, {wire_type::actor_down, true, true},
    {wire_type::actor_link, true, true},
    // A sender may live anywhere: values and closes travel both ways.
    {wire_type::channel_data, true, true}, {wire_type::channel_close, true, true},
  };
  for (const auto& e : expected) {
    INFO("wire type " << type_registry::name(to_u32(e.type)));
    CHECK(from_parent(e.type) == e.from_parent);
    CHECK(from_child(e.type) == e.from_child);
  }

  // Ids outside the registry are never decodable.
  for (auto d : {direction::from_parent, direction::from_child}) {
    CHECK_FALSE(r.allows_type(d, 0));
    CHECK_FALSE(r.allows_type(d, type_registry::max_id() + 1));
  }
}

TEST_CASE("rules: encode then decode restores every field", "[rules]") {
  rules r;
  r.types_from_parent = {1, 2, 13};
  r.types_from_child = {9, 0xffffffffu};
  r.parent_may_call = false;
  r.child_callable = {"*", "add", ""};
  r.sibling_routing = true;

  auto d = rules::decode(r.encode());
  CHECK(d.types_from_parent == r.types_from_parent);
  CHECK(d.types_from_child == r.types_from_child);
  CHECK(d.parent_may_call == false);
  CHECK(d.child_callable == r.child_callable);
  CHECK(d.sibling_routing == true);

  SECTION("and the defaults survive too") {
    auto def = rules::defaults();
    check_members_equal(rules::decode(def.encode()), def, &rules::types_from_parent,
                        &rules::types_from_child, &rules::parent_may_call, &rules::child_callable,
                        &rules::sibling_routing);
  }
}

TEST_CASE("rules: decoding garbage throws decode_error", "[rules]") {
  SECTION("empty") {
    CHECK_THROWS_AS(rules::decode({}), decode_error);
  }
  SECTION("all 0xff") {
    CHECK_THROWS_AS(rules::decode(std::vector<char>(64, '\xff')), decode_error);
  }
  SECTION("text") {
    std::string s = "this is not an encoded rule set at all";
    CHECK_THROWS_AS(rules::decode({s.begin(), s.end()}), decode_error);
  }
  SECTION("every cut of a real encoding") {
    auto bytes = rules::defaults().encode();
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      INFO("cut to " << n << " of " << bytes.size());
      auto code = decode_failure({bytes.begin(), bytes.begin() + static_cast<long>(n)});
      CHECK((code == errc::truncated_payload || code == errc::count_exceeds_payload));
    }
  }
  SECTION("a real encoding with a byte appended") {
    auto bytes = rules::defaults().encode();
    bytes.push_back('\0');
    CHECK(decode_failure(bytes) == errc::trailing_bytes);
  }
}

TEST_CASE("rules: a policy text changes the defaults it names", "[rules]") {
  auto r = rules::parse(R"(
    # who may call what here
    parent_may_call = false
    child_callable = echo, add   # two functions
    sibling_routing = true
    types_from_child = call_reply, dead
  )");
  CHECK_FALSE(r.parent_may_call);
  CHECK(r.child_callable == std::set<std::string>{"echo", "add"});
  CHECK(r.sibling_routing);
  CHECK(r.types_from_child
        == std::set<std::uint32_t>{to_u32(wire_type::call_reply), to_u32(wire_type::dead)});
  CHECK(r.types_from_parent == rules::defaults().types_from_parent);
}

TEST_CASE("rules: a bad policy text names the line and the cause", "[rules]") {
  CHECK_THROWS_WITH(rules::parse("\nfrobnicate = 1\n"),
                    Catch::Matchers::Contains("line 2")
                      && Catch::Matchers::Contains("unknown setting 'frobnicate'"));
  CHECK_THROWS_WITH(rules::parse("parent_may_call = maybe"),
                    Catch::Matchers::Contains("expected true or false"));
  CHECK_THROWS_WITH(rules::parse("types_from_child = call_reply, telepathy"),
                    Catch::Matchers::Contains("unknown message type 'telepathy'"));
  CHECK_THROWS_WITH(rules::parse("child_callable"), Catch::Matchers::Contains("key = value"));
}

TEST_CASE("rules: load reads a policy file", "[rules]") {
  char path[] = "/tmp/mitosis-policy-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  std::string text = "child_callable = *\n";
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
  auto r = rules::load(path);
  ::unlink(path);
  CHECK(r.allows_call(direction::from_child, "anything"));
  CHECK_THROWS_WITH(rules::load("/nonexistent/policy"), Catch::Matchers::Contains("cannot read"));
}

TEST_CASE("rules: a per-context override replaces the direction's types", "[rules]") {
  auto r = rules::parse("types_from_context.7 = call_reply\n");
  CHECK(r.allows_type(direction::from_child, 7, to_u32(wire_type::call_reply)));
  CHECK_FALSE(r.allows_type(direction::from_child, 7, to_u32(wire_type::log_record)));
  CHECK(r.allows_type(direction::from_child, 8, to_u32(wire_type::log_record)));
  auto back = rules::decode(r.encode());
  CHECK(back.types_from_context == r.types_from_context);
  CHECK_THROWS_WITH(rules::parse("types_from_context.x = dead"),
                    Catch::Matchers::Contains("types_from_context.<context id>"));
}

TEST_CASE("rules: a neighbour's own types bound what comes through it", "[rules]") {
  // Context 7 (a child) may only answer; 9 lives behind it, 8 elsewhere.
  auto r = rules::parse("types_from_context.7 = call_reply\n");
  const auto log = to_u32(wire_type::log_record);
  const auto reply = to_u32(wire_type::call_reply);
  CHECK_FALSE(r.allows_type(direction::from_child, 9, 7, log));
  CHECK(r.allows_type(direction::from_child, 9, 7, reply));
  CHECK(r.allows_type(direction::from_child, 9, 8, log));
  CHECK(r.allows_type(direction::from_child, 7, 7, reply));
  // The source's own set still applies through an unrestricted neighbour.
  CHECK_FALSE(r.allows_type(direction::from_child, 7, 8, log));
}

TEST_CASE("rules: a neighbour's own call rights bound the calls through it", "[rules]") {
  auto r = rules::parse("child_callable = echo\ncallable_by_context.7 = add\n");
  CHECK_FALSE(r.allows_call(direction::from_child, 9, 7, "echo"));
  CHECK(r.allows_call(direction::from_child, 9, 8, "echo"));
  CHECK_FALSE(r.allows_call(direction::from_child, 9, 7, "add")); // 9 may not call add
  CHECK(r.allows_call(direction::from_child, 7, 7, "add"));
}

TEST_CASE("rules: import policy like Mitogen's (blocks, then overrides as an allow-list)", "[rules]") {
  rules r;
  CHECK(r.import_refusal("anything").empty());
  r.import_blocks = {"bad"};
  CHECK(r.import_refusal("bad") == "import_blocks");
  CHECK(r.import_refusal("good").empty());
  r.import_overrides = {"good"};
  CHECK(r.import_refusal("good").empty());
  CHECK(r.import_refusal("other") == "import_overrides");
  auto parsed = rules::parse("import_overrides = good, fine\nimport_blocks = bad\n");
  CHECK(parsed.import_overrides == std::set<std::string>{"good", "fine"});
  CHECK(rules::decode(parsed.encode()).import_blocks == std::set<std::string>{"bad"});
}

TEST_CASE("rules: per-peer import rights narrow the import policy for one context and its subtree",
          "[rules]") {
  auto r = rules::parse("importable_by_context.5 = inventory\nimportable_by_context.6 = *\n"
                        "import_blocks = bad\n");
  // Its own entry, and that of the neighbour it came through.
  CHECK(r.import_refusal("inventory", 5, 5).empty());
  CHECK(r.import_refusal("other", 5, 5) == "importable_by_context.5");
  CHECK(r.import_refusal("other", 9, 5) == "importable_by_context.5"); // behind 5
  CHECK(r.import_refusal("other", 6, 6).empty());
  CHECK(r.import_refusal("other", 7, 7).empty()); // no entry: the policy alone
  // Within import_blocks and import_overrides, never beyond them.
  CHECK(r.import_refusal("bad", 6, 6) == "import_blocks");
  CHECK(rules::decode(r.encode()).importable_by_context == r.importable_by_context);
}

TEST_CASE("rules: per-context call rights override the direction's", "[rules]") {
  auto r = rules::parse("callable_by_context.5 = echo\ncallable_by_context.6 = *\n");
  CHECK(r.allows_call(direction::from_child, 5, "echo"));
  CHECK_FALSE(r.allows_call(direction::from_child, 5, "add"));
  CHECK(r.allows_call(direction::from_child, 6, "anything"));
  CHECK_FALSE(r.allows_call(direction::from_child, 7, "echo"));
  CHECK(rules::decode(r.encode()).callable_by_context == r.callable_by_context);
  // An entry can also take rights away from the parent's direction.
  rules p;
  p.callable_by_context[0] = {};
  CHECK_FALSE(p.allows_call(direction::from_parent, 0, "echo"));
  CHECK(p.allows_call(direction::from_parent, 9, "echo"));
}

TEST_CASE("rules: a context id that does not fit is refused naming the line", "[rules]") {
  CHECK_THROWS_WITH(rules::parse("callable_by_context.4294967296 = *"),
                    Catch::Matchers::Contains("line 1"));
  CHECK_THROWS_WITH(rules::parse("types_from_context.123456789012345678901 = dead"),
                    Catch::Matchers::Contains("types_from_context.<context id>"));
}

TEST_CASE("rules: spawn rights per direction and per context", "[rules]") {
  auto def = rules::defaults();
  CHECK(def.allows_spawn(direction::from_parent, 0, "any.type"));
  CHECK_FALSE(def.allows_spawn(direction::from_child, 4, "any.type"));
  auto r = rules::parse("spawnable_by_parent = adder\nspawnable_by_child = echo\n"
                        "spawnable_by_context.9 = *\n");
  CHECK(r.allows_spawn(direction::from_parent, 0, "adder"));
  CHECK_FALSE(r.allows_spawn(direction::from_parent, 0, "echo"));
  CHECK(r.allows_spawn(direction::from_child, 4, "echo"));
  CHECK_FALSE(r.allows_spawn(direction::from_child, 4, "adder"));
  CHECK(r.allows_spawn(direction::from_child, 9, "adder"));
  auto back = rules::decode(r.encode());
  CHECK(back.spawnable_by_parent == r.spawnable_by_parent);
  CHECK(back.spawnable_by_child == r.spawnable_by_child);
  CHECK(back.spawnable_by_context == r.spawnable_by_context);
}

TEST_CASE("rules: actor message types per direction and per context", "[rules]") {
  auto def = rules::defaults();
  CHECK(def.refused_actor_type(direction::from_child, 3, {"@i32", "point"}).empty());
  auto r = rules::parse("actor_types_from_child = @str, @atom\n"
                        "actor_types_from_context.7 = @i32\n");
  CHECK(r.refused_actor_type(direction::from_child, 3, {"@atom", "@str"}).empty());
  CHECK(r.refused_actor_type(direction::from_child, 3, {"@atom", "@i32"}) == "@i32");
  CHECK(r.refused_actor_type(direction::from_child, 7, {"@i32"}).empty());
  CHECK(r.refused_actor_type(direction::from_child, 7, {"@str"}) == "@str");
  CHECK(r.refused_actor_type(direction::from_parent, 3, {"anything"}).empty());
  CHECK(r.refused_actor_type(direction::from_child, 3, {}).empty());
  auto back = rules::decode(r.encode());
  CHECK(back.actor_types_from_child == r.actor_types_from_child);
  CHECK(back.actor_types_from_parent == r.actor_types_from_parent);
  CHECK(back.actor_types_from_context == r.actor_types_from_context);
}
