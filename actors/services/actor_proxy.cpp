// The proxy of an actor of another context: a caf::actor_proxy whose
// enqueue serialises the message onto the router, on the sender's thread.
#include "actor_state.hpp"

namespace mitosis::actors::services {

/// A local stand-in for an actor of another context. What it is sent goes
/// onto the router from the sender's thread; kill_proxy (exit or loss)
/// gives its monitors one down_msg each and fails the requests still
/// waiting on it.
class remote_proxy final : public caf::actor_proxy {
public:
  remote_proxy(caf::actor_config& cfg, std::weak_ptr<actor_service::state> st,
               router::context_id ctx)
    : caf::actor_proxy(cfg), st_(std::move(st)), ctx_(ctx) {}

  router::context_id ctx() const noexcept {
    return ctx_;
  }
  bool killed() const noexcept {
    return killed_.load();
  }
  void bounce_back(caf::mailbox_element_ptr& what) {
    bounce(what, caf::sec::request_receiver_down);
  }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override {
    auto st = st_.lock();
    if (!st || killed_.load()) {
      bounce_back(what);
      return;
    }
    st->forward(*this, *what, host);
  }

  bool add_backlink(caf::abstract_actor* x) override {
    return changed(caf::actor_proxy::add_backlink(x), x, true);
  }

  bool remove_backlink(caf::abstract_actor* x) override {
    return changed(caf::actor_proxy::remove_backlink(x), x, false);
  }

  void kill_proxy(caf::execution_unit* host, caf::error reason) override {
    caf::strong_actor_ptr guard{ctrl()};
    killed_ = true;
    std::vector<actor_service::state::request> orphans;
    if (auto st = st_.lock())
      orphans = st->take_requests_to(ctx_, id());
    cleanup(caf::error{reason}, host);
    for (auto& r : orphans)
      answer(r.requester, r.mid, reason, guard, host);
  }

private:
  bool changed(bool done, caf::abstract_actor* x, bool add) {
    if (done && !killed_.load())
      if (auto st = st_.lock())
        st->link_changed(ctx_, id(), caf::strong_actor_ptr{x->ctrl()}, add);
    return done;
  }

  std::weak_ptr<actor_service::state> st_;
  router::context_id ctx_;
  std::atomic<bool> killed_{false};
};

caf::strong_actor_ptr actor_service::state::make_proxy(caf::node_id nid, caf::actor_id aid) {
  auto ctx = context_of(nid);
  // No proxy for an id no context gives: it would break CAF's order of
  // actor addresses (actor_ids.hpp), and the handle arrives null.
  if (!ctx || aid > max_actor_id)
    return nullptr;
  caf::actor_config cfg;
  auto p = caf::make_actor<remote_proxy, caf::strong_actor_ptr>(aid, nid, &sys, cfg,
                                                                weak_from_this(), *ctx);
  caf::error dead_on_arrival;
  {
    std::lock_guard<std::mutex> guard{mtx};
    proxy_contexts.insert(*ctx);
    if (auto t = tombstones.find({*ctx, aid}); t != tombstones.end()) {
      dead_on_arrival = std::move(t->second);
      tombstones.erase(t);
    }
  }
  if (!dead_on_arrival)
    if (auto why = core_.lost_reason(*ctx))
      dead_on_arrival = make_error(errc::context_lost, *why);
  if (dead_on_arrival) {
    static_cast<remote_proxy*>(p->get())->kill_proxy(nullptr, std::move(dead_on_arrival));
    std::lock_guard<std::mutex> guard{mtx};
    made_dead.emplace_back(nid, aid);
    has_made_dead = true;
  }
  return p;
}

void actor_service::state::forward(remote_proxy& p, caf::mailbox_element& e,
                                   caf::execution_unit* host) {
  message_head m;
  m.dst = p.id();
  m.mid = e.mid.integer_value();
  std::optional<request_key> waiting;
  std::uint32_t reply_to = 0; // a request's: a refusal on the way answers dead to it
  if (e.sender) {
    if (auto sctx = context_of(e.sender->node())) {
      m.sender_ctx = *sctx;
      m.sender = e.sender->id();
    }
    if (m.sender != 0 && m.sender_ctx == core_.self()) {
      export_actor(e.sender, p.ctx());
      if (e.mid.is_request()) {
        waiting = request_key{e.sender->id(), e.mid.response_id().integer_value()};
        reply_to = core_.pending().next_handle();
        std::lock_guard<std::mutex> guard{mtx};
        if (auto old = requests.find(*waiting); old != requests.end())
          by_handle.erase(old->second.handle);
        requests[*waiting] = request{e.sender, e.mid, p.ctx(), p.id(), reply_to};
        by_handle[reply_to] = *waiting;
      }
    }
  }
  caf::strong_actor_ptr self{p.ctrl()};
  flush_links();
  export_handles(e.content(), p.ctx());
  // The frame is made in a buffer of this thread's, kept between messages.
  thread_local std::vector<char> scratch;
  scratch.clear();
  auto made = append_message(
    scratch, serialization::make_header(wire_type::actor_message, p.ctx(), core_.self(), 0, reply_to), m,
    e.content());
  auto why = made ? std::string{} : made.error().reason;
  auto code = errc::protocol_error;
  if (made && scratch.size() - serialization::frame_header::size > core_.routes().opts().max_frame) {
    why = "message to actor " + std::to_string(p.id()) + " of " + core_.name_of(p.ctx())
          + " is larger than the frame limit";
    code = errc::frame_too_large;
  }
  if (!why.empty()) {
    lg()->warn("[{}] message to actor {} of {} dropped: {}", core_.name(), p.id(),
               core_.name_of(p.ctx()), why);
    if (waiting)
      fail_request(*waiting, self, make_error(code, why));
    return;
  }
  outbox->post(p.ctx(), scratch.data(), scratch.size(), host, waiting.has_value());
  if (waiting && p.killed()) // killed while we sent: kill_proxy may have missed it
    fail_request(*waiting, self, caf::sec::request_receiver_down);
}

} // namespace mitosis::actors::services
