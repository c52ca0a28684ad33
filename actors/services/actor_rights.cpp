// The actor service's policy checks (spawn rights, message-type rights read
// from a message's header before it is decoded), refusals on the way back
// to a requester, and actors tied to their spawner.
#include "actor_state.hpp"

#include <string_view>

#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

namespace mitosis::actors::services {

namespace {

/// Returns the element type names of a caf::message in CAF 0.17's binary
/// format, read from its header (read_message_header) without decoding the
/// content: message::load makes the elements from these same names. An
/// empty buffer is the empty message. Nothing: malformed.
std::optional<std::vector<std::string>> element_types(std::string_view bytes) {
  std::vector<std::string> out;
  if (bytes.empty())
    return out;
  message_header h;
  if (!read_message_header(bytes, h))
    return std::nullopt;
  std::string_view name = h.names;
  if (name.substr(0, 3) != "@<>")
    return std::nullopt;
  for (std::size_t at = 3; at < name.size();) {
    if (name[at] != '+')
      return std::nullopt;
    auto next = name.find('+', at + 1);
    out.emplace_back(name.substr(at + 1, next == std::string_view::npos ? next : next - at - 1));
    at = next == std::string_view::npos ? name.size() : next;
  }
  return out;
}

std::string render_list(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return "(" + out + ")";
}

} // namespace

bool actor_service::state::spawn_allowed(const frame& f, policy::direction d,
                                         router::stream_id from, const std::string& type) {
  auto& r = core_.routes();
  if (r.rules()->allows_spawn(d, f.hdr.src, type))
    return true;
  auto detail = "spawning actor type '" + type + "' in context '" + core_.name() + "' from "
                + policy::to_string(d) + " " + core_.name_of(f.hdr.src)
                + " is not allowed by policy";
  if (from != 0 && d == policy::direction::from_child)
    r.report_violation(from, errc::spawn_not_allowed, f.hdr, detail);
  else
    r.reply_dead(f.hdr, errc::spawn_not_allowed, detail);
  return false;
}

bool actor_service::state::message_allowed(const frame& f, policy::direction d,
                                           router::stream_id from,
                                           const message_head& m) {
  auto rules = core_.routes().rules();
  if (rules->allows_any_actor_type(d, f.hdr.src)) // the common case: no header to read
    return true;
  auto types = element_types({m.content, m.size});
  std::string refused;
  errc code = errc::message_not_allowed;
  if (!types) {
    code = errc::protocol_error;
    refused = "an actor message with a malformed type header";
  } else if (auto t = rules->refused_actor_type(d, f.hdr.src, *types);
             !t.empty()) {
    refused = "an actor message holding " + render_list(*types) + " (type '" + t + "')";
  } else {
    return true;
  }
  auto detail = refused + " from " + policy::to_string(d) + " " + core_.name_of(f.hdr.src)
                + " to actor " + std::to_string(m.dst) + " in context '" + core_.name() + "'"
                + (code == errc::message_not_allowed ? " is not allowed by policy"
                                                     : " cannot be read");
  caf::message_id mid{m.mid};
  if (mid.is_response()) // it answers a request of ours: fail that one here
    if (auto req = take_request({static_cast<caf::actor_id>(m.dst), m.mid}))
      answer(req->requester, req->mid, make_error(code, detail));
  // Counted against a child (its stream is cut at the limit); a parent's
  // refusals are answered and logged only.
  if (from != 0 && d == policy::direction::from_child) {
    core_.routes().report_violation(from, code, f.hdr, detail);
  } else {
    lg()->warn("[{}] refused actor_message from context {}: {}", core_.name(), f.hdr.src, detail);
    core_.routes().reply_dead(f.hdr, code, detail);
  }
  return false;
}

void actor_service::state::on_unclaimed_dead(frame&& f, router::stream_id from) {
  std::optional<request> req;
  {
    std::lock_guard<std::mutex> guard{mtx};
    auto h = by_handle.find(f.hdr.handle);
    if (h == by_handle.end())
      return;
    auto i = requests.find(h->second);
    if (i == requests.end())
      return;
    // A dead reply may come from any hop on the way, but only on the way.
    if (f.hdr.src != i->second.ctx && !core_.on_path(i->second.ctx, f.hdr.src, from)) {
      lg()->warn("[{}] ignored a dead reply for actor request {} from context {}: not on the "
                 "path to context {}",
                 core_.name(), f.hdr.handle, f.hdr.src, i->second.ctx);
      return;
    }
    req = i->second;
    erase_request(i);
  }
  serialization::dead_info d;
  if (!decode_or_warn(f, d))
    d = {static_cast<std::uint8_t>(errc::protocol_error), "undecodable dead reply"};
  answer(req->requester, req->mid, make_error(static_cast<errc>(d.code), d.reason));
}

void actor_service::state::owner_exited(router::context_id ctx, caf::actor_id owner,
                                        const caf::error& reason) {
  end_tied(ctx, owner,
           // No id in the text: it travels to whoever knows the tied
           // actors, and an actor id is a capability (actor_ids.cpp).
           make_error(errc::spawner_exited, "the actor of " + core_.name_of(ctx)
                                              + " that spawned it exited: " + sys.render(reason)));
}

void actor_service::state::end_tied(router::context_id ctx, std::optional<caf::actor_id> owner,
                                    const caf::error& reason) {
  std::set<caf::actor_id> tied;
  {
    std::lock_guard<std::mutex> guard{mtx};
    auto first = ties.lower_bound({ctx, owner.value_or(0)});
    auto last = owner ? ties.upper_bound({ctx, *owner})
                      : (ctx == UINT32_MAX ? ties.end() : ties.lower_bound({ctx + 1, 0}));
    for (auto i = first; i != last; ++i)
      tied.insert(i->second.begin(), i->second.end());
    ties.erase(first, last);
  }
  for (auto aid : tied)
    if (auto a = sys.registry().get(aid))
      a->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(), {},
                                           caf::exit_msg{caf::actor_addr{}, reason}),
                 nullptr);
}

} // namespace mitosis::actors::services
