#include "rules.hpp"

// archive.hpp first: Boost 1.74's set.hpp needs what it includes.
#include "../serialization/archive.hpp"
#include "../serialization/type_registry.hpp"

#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <charconv>
#include <climits>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mitosis::policy {

using serialization::to_u32;
using serialization::wire_type;

const char* to_string(direction d) noexcept {
  return d == direction::from_parent ? "parent" : "child";
}

bool rules::allows_type(direction d, std::uint32_t type) const noexcept {
  const auto& allowed = d == direction::from_parent ? types_from_parent : types_from_child;
  return allowed.count(type) != 0;
}

bool rules::allows_type(direction d, std::uint32_t src, std::uint32_t type) const noexcept {
  if (auto i = types_from_context.find(src); i != types_from_context.end())
    return i->second.count(type) != 0;
  return allows_type(d, type);
}

bool rules::allows_type(direction d, std::uint32_t src, std::uint32_t peer,
                        std::uint32_t type) const noexcept {
  if (!allows_type(d, src, type))
    return false;
  if (peer == src || types_from_context.empty())
    return true;
  auto i = types_from_context.find(peer);
  return i == types_from_context.end() || i->second.count(type) != 0;
}

bool rules::allows_call(direction d, std::uint32_t src, std::uint32_t peer,
                        std::string_view function) const {
  return allows_call(d, src, function)
         && (peer == src || callable_by_context.count(peer) == 0
             || allows_call(d, peer, function));
}

bool rules::allows_call(direction d, std::uint32_t src, std::string_view function) const {
  if (auto i = callable_by_context.find(src); i != callable_by_context.end())
    return i->second.count("*") != 0 || i->second.count(std::string{function}) != 0;
  return allows_call(d, function);
}

namespace {

bool named_in(const std::set<std::string>& names, std::string_view x) {
  return names.count("*") != 0 || names.count(std::string{x}) != 0;
}

} // namespace

std::string rules::import_refusal(const std::string& name, std::uint32_t src,
                                  std::uint32_t peer) const {
  if (auto rule = import_refusal(name); !rule.empty())
    return rule;
  for (auto id : {src, peer})
    if (auto i = importable_by_context.find(id);
        i != importable_by_context.end() && !named_in(i->second, name))
      return "importable_by_context." + std::to_string(id);
  return {};
}

bool rules::allows_spawn(direction d, std::uint32_t src, std::string_view type) const {
  if (auto i = spawnable_by_context.find(src); i != spawnable_by_context.end())
    return named_in(i->second, type);
  return named_in(d == direction::from_parent ? spawnable_by_parent : spawnable_by_child, type);
}

const std::set<std::string>& rules::actor_types_for(direction d, std::uint32_t src) const {
  if (auto i = actor_types_from_context.find(src); i != actor_types_from_context.end())
    return i->second;
  return d == direction::from_parent ? actor_types_from_parent : actor_types_from_child;
}

bool rules::allows_any_actor_type(direction d, std::uint32_t src) const {
  return actor_types_for(d, src).count("*") != 0;
}

std::string rules::refused_actor_type(direction d, std::uint32_t src,
                                      const std::vector<std::string>& element_types) const {
  const auto* allowed = &actor_types_for(d, src);
  for (const auto& t : element_types)
    if (!named_in(*allowed, t))
      return t;
  return {};
}

std::string rules::import_refusal(const std::string& name) const {
  if (import_blocks.count(name))
    return "import_blocks";
  if (!import_overrides.empty() && !import_overrides.count(name))
    return "import_overrides";
  return {};
}

bool rules::allows_call(direction d, std::string_view function) const {
  if (d == direction::from_parent)
    return parent_may_call;
  return child_callable.count("*") != 0 || child_callable.count(std::string{function}) != 0;
}

rules rules::defaults() {
  rules r;
  for (auto t : {wire_type::boot, wire_type::call_request, wire_type::call_reply,
                 wire_type::call_error, wire_type::dead, wire_type::id_grant,
                 wire_type::spawn_request, wire_type::spawn_reply, wire_type::shutdown,
                 wire_type::rules_update, wire_type::file_request, wire_type::file_chunk,
                 wire_type::module_data, wire_type::module_push,
                 wire_type::log_record, wire_type::route_add, wire_type::route_del,
                 wire_type::actor_spawn, wire_type::actor_message, wire_type::actor_down,
                 wire_type::actor_link, wire_type::actor_lost, wire_type::channel_data,
                 wire_type::channel_close, wire_type::stats_request, wire_type::file_push,
                 wire_type::file_pushed})
    r.types_from_parent.insert(to_u32(t));
  // A child answers, reports routes and logs, asks for ids. It may send a
  // call_request (so the refusal can be a dead reply rather than a cut
  // stream), but call rights refuse it by default.
  for (auto t : {wire_type::call_request, wire_type::call_reply, wire_type::call_error,
                 wire_type::dead, wire_type::route_add, wire_type::route_del,
                 wire_type::log_record, wire_type::id_request, wire_type::spawn_reply,
                 wire_type::file_request, wire_type::file_chunk, wire_type::module_request,
                 wire_type::actor_spawned, wire_type::actor_message, wire_type::actor_down,
                 wire_type::actor_link, wire_type::channel_data, wire_type::channel_close,
                 wire_type::detaching, wire_type::stats_reply, wire_type::blob_request,
                 wire_type::file_pushed})
    r.types_from_child.insert(to_u32(t));
  // A parent may spawn any registered actor type here (and a child that
  // is granted spawn rights gets its actor_spawned answer); a child none.
  r.types_from_parent.insert(to_u32(wire_type::actor_spawned));
  r.types_from_child.insert(to_u32(wire_type::actor_spawn));
  r.spawnable_by_parent = {"*"};
  r.actor_types_from_parent = {"*"};
  r.actor_types_from_child = {"*"};
  return r;
}

std::vector<char> rules::encode() const {
  std::vector<char> out;
  serialization::encode_into(out, types_from_parent, types_from_child, parent_may_call,
                             child_callable, sibling_routing, types_from_context,
                             import_overrides, import_blocks, callable_by_context,
                             spawnable_by_parent, spawnable_by_child, spawnable_by_context,
                             actor_types_from_parent, actor_types_from_child,
                             actor_types_from_context, importable_by_context);
  return out;
}

rules rules::decode(const std::vector<char>& bytes) {
  rules r;
  serialization::decode_exact(bytes.data(), bytes.size(), r.types_from_parent,
                              r.types_from_child, r.parent_may_call, r.child_callable, r.sibling_routing, r.types_from_context,
                              r.import_overrides, r.import_blocks, r.callable_by_context,
                              r.spawnable_by_parent, r.spawnable_by_child,
                              r.spawnable_by_context, r.actor_types_from_parent,
                              r.actor_types_from_child, r.actor_types_from_context,
                              r.importable_by_context);
  return r;
}

namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  std::string item;
  for (char c : v + ",") {
    if (c == ',') {
      if (auto t = trim(item); !t.empty())
        out.push_back(t);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

std::uint32_t parse_context_id(const std::string& key, const std::string& prefix,
                               const std::string& where) {
  auto id = key.substr(prefix.size());
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
  if (id.empty() || ec != std::errc{} || end != id.data() + id.size() || v > UINT32_MAX)
    throw std::invalid_argument(where + ": expected " + prefix + "<context id>");
  return static_cast<std::uint32_t>(v);
}

std::set<std::string> name_set(const std::string& v) {
  auto names = split_list(v);
  return {names.begin(), names.end()};
}

bool parse_bool(const std::string& v, const std::string& where) {
  if (v == "true")
    return true;
  if (v == "false")
    return false;
  throw std::invalid_argument(where + ": expected true or false, got '" + v + "'");
}

std::set<std::uint32_t> parse_types(const std::string& v, const std::string& where) {
  std::set<std::uint32_t> out;
  for (const auto& name : split_list(v)) {
    std::uint32_t id = 0;
    for (std::uint32_t i = 1; i <= serialization::type_registry::max_id(); ++i)
      if (serialization::type_registry::name(i) == name)
        id = i;
    if (id == 0)
      throw std::invalid_argument(where + ": unknown message type '" + name + "'");
    out.insert(id);
  }
  return out;
}

using name_set_field = std::set<std::string> rules::*;
using name_map_field = std::map<std::uint32_t, std::set<std::string>> rules::*;

// The settings whose value is a list of names, and those that give one
// context its own list ("<key>.<context id>").
const std::pair<const char*, name_set_field> name_settings[] = {
  {"child_callable", &rules::child_callable},
  {"import_overrides", &rules::import_overrides},
  {"import_blocks", &rules::import_blocks},
  {"spawnable_by_parent", &rules::spawnable_by_parent},
  {"spawnable_by_child", &rules::spawnable_by_child},
  {"actor_types_from_parent", &rules::actor_types_from_parent},
  {"actor_types_from_child", &rules::actor_types_from_child},
};
const std::pair<std::string, name_map_field> per_context_name_settings[] = {
  {"callable_by_context.", &rules::callable_by_context},
  {"spawnable_by_context.", &rules::spawnable_by_context},
  {"actor_types_from_context.", &rules::actor_types_from_context},
  {"importable_by_context.", &rules::importable_by_context},
};

// Applies `key = value` when key is one of the name settings above.
bool set_names(rules& r, const std::string& key, const std::string& value,
               const std::string& where) {
  for (const auto& [name, field] : name_settings)
    if (key == name) {
      r.*field = name_set(value);
      return true;
    }
  for (const auto& [prefix, field] : per_context_name_settings)
    if (key.rfind(prefix, 0) == 0) {
      (r.*field)[parse_context_id(key, prefix, where)] = name_set(value);
      return true;
    }
  return false;
}

} // namespace

rules rules::parse(const std::string& text) {
  rules r = defaults();
  std::istringstream in{text};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos)
      line.erase(hash);
    line = trim(line);
    if (line.empty())
      continue;
    auto where = "policy line " + std::to_string(n);
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument(where + ": expected 'key = value'");
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (key == "parent_may_call") {
      r.parent_may_call = parse_bool(value, where);
    } else if (key == "sibling_routing") {
      r.sibling_routing = parse_bool(value, where);
    } else if (set_names(r, key, value, where)) {
      // a set of names, or one context's set
    } else if (key == "types_from_parent") {
      r.types_from_parent = parse_types(value, where);
    } else if (key == "types_from_child") {
      r.types_from_child = parse_types(value, where);
    } else if (key.rfind("types_from_context.", 0) == 0) {
      r.types_from_context[parse_context_id(key, "types_from_context.", where)]
        = parse_types(value, where);
    } else {
      throw std::invalid_argument(where + ": unknown setting '" + key + "'");
    }
  }
  return r;
}

rules rules::load(const std::string& path) {
  std::ifstream f{path};
  if (!f)
    throw std::invalid_argument("cannot read policy file " + path);
  std::stringstream text;
  text << f.rdbuf();
  return parse(text.str());
}

} // namespace mitosis::policy
