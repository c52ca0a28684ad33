#include "id_service.hpp"

#include <algorithm>

namespace mitosis::actors::services {

using serialization::wire_type;

id_service::id_service(core& c) : core_(c) {
  if (!c.routes().config().has_parent) {
    blocks_.emplace(c.opts().id_block, 1);
    ids_.refill(*blocks_->next());
  }
  c.routes().handlers().add(wire_type::id_request,
                            [this](serialization::frame&& f, policy::direction,
                                   router::stream_id from) { on_request(f, from); });
}

expected<router::context_id> id_service::allocate(clock::time_point deadline) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto id = ids_.next())
    return *id;
  if (blocks_) {
    auto b = blocks_->next();
    if (!b)
      return fail(errc::spawn_failed, "context id space exhausted");
    ids_.refill(*b);
    return *ids_.next();
  }
  // One round trip per block, not per child.
  auto b = core_.ask<serialization::id_block_info>(router::master_id, wire_type::id_request,
                                                   wire_type::id_grant, deadline,
                                                   serialization::id_block_info{
                                                     0, core_.opts().id_block});
  if (!b)
    return fail(b.error().code, "no id block from the master: " + b.error().reason);
  ids_.refill({b->first, b->count});
  if (auto id = ids_.next())
    return *id;
  return fail(errc::protocol_error, "the master granted an empty id block");
}

void id_service::on_request(const serialization::frame& f, router::stream_id from) {
  auto& r = core_.routes();
  if (!blocks_) {
    r.refuse(from, f.hdr, errc::protocol_error, "only the master hands out id blocks");
    return;
  }
  serialization::id_block_info want;
  if (!core_.decode_or_refuse(f, want, from))
    return;
  // At most one block per request: a child cannot take the id space in a few requests.
  const auto most = core_.opts().id_block;
  const auto blocks_per_child = core_.opts().max_id_blocks_per_child;
  const auto blocks_in_total = core_.opts().max_id_blocks;
  std::optional<router::id_block> b;
  bool over = false, over_total = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // And at most max_id_blocks_per_child blocks for everything behind one
    // child stream, so that no number of requests drains the id space;
    // and max_id_blocks for all of them, so that no number of children
    // does, and the master's own starts always find ids.
    if (from != 0 && granted_[from] >= blocks_per_child) {
      over = true;
    } else if (from != 0 && granted_total_ >= blocks_in_total) {
      over_total = true;
    } else {
      b = blocks_->next(std::min(want.count == 0 ? most : want.count, most));
      if (b && from != 0) {
        ++granted_[from];
        ++granted_total_;
      }
    }
  }
  if (over) {
    // A violation: an honest subtree never needs this many.
    r.report_violation(from, errc::limit_exceeded, f.hdr,
                       "id block limit of " + std::to_string(blocks_per_child)
                         + " blocks for one child reached (max_id_blocks_per_child)");
    return;
  }
  if (over_total) {
    // Not a violation by itself (others may have taken them), but counted
    // as a refusal: a child that keeps asking is cut.
    r.refuse(from, f.hdr, errc::limit_exceeded,
             "id_request refused: the " + std::to_string(blocks_in_total)
               + " id blocks for all children are granted (max_id_blocks)");
    return;
  }
  if (!b) {
    r.reply_dead(f.hdr, errc::spawn_failed, "context id space exhausted");
    return;
  }
  // The block belongs to the subtree behind the stream the request came
  // on: only there may its ids be announced and used as sources.
  if (from != 0)
    r.grant(b->first, b->count, from);
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, serialization::id_block_info{b->first, b->count});
  r.reply(f.hdr, wire_type::id_grant, std::move(out));
}

} // namespace mitosis::actors::services
