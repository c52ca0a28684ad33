#include "mitosis/policy/rules.hpp"

// archive.hpp first: Boost 1.74's set.hpp needs what it includes.
#include "mitosis/serialization/archive.hpp"
#include "mitosis/serialization/type_registry.hpp"

#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>

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
                 wire_type::log_record, wire_type::route_add, wire_type::route_del})
    r.types_from_parent.insert(to_u32(t));
  // A child answers, reports routes and logs, asks for ids. It may send a
  // call_request (so the refusal can be a dead reply rather than a cut
  // stream), but call rights refuse it by default.
  for (auto t : {wire_type::call_request, wire_type::call_reply, wire_type::call_error,
                 wire_type::dead, wire_type::route_add, wire_type::route_del,
                 wire_type::log_record, wire_type::id_request, wire_type::spawn_reply})
    r.types_from_child.insert(to_u32(t));
  return r;
}

std::vector<char> rules::encode() const {
  std::vector<char> out;
  serialization::encode_into(out, types_from_parent, types_from_child, parent_may_call,
                             child_callable, sibling_routing);
  return out;
}

rules rules::decode(const std::vector<char>& bytes) {
  rules r;
  serialization::decode_exact(bytes.data(), bytes.size(), r.types_from_parent,
                              r.types_from_child, r.parent_may_call, r.child_callable, r.sibling_routing);
  return r;
}

} // namespace mitosis::policy
