// Refusals that are not violations by themselves (no_route, an unknown
// function, an undecodable request, a refused file, a request over a
// limit): each is answered dead and counted per child stream, and those
// beyond options::max_refusals in one refusal_window are charged as
// violations, so that a child flooding them is cut.
#include "router.hpp"

namespace mitosis::router {

using serialization::frame_header;

std::uint32_t router::over_refusals(stream& s) {
  if (s.options().is_parent)
    return 0;
  auto n = s.add_refusal(std::chrono::steady_clock::now(), opts_.refusal_window);
  return n > opts_.max_refusals ? n : 0;
}

namespace {

std::string refusal_flood(const std::string& reason, std::uint32_t n, const options& o) {
  return reason + " (refusal " + std::to_string(n) + " within "
         + std::to_string(o.refusal_window.count()) + " ms, over max_refusals "
         + std::to_string(o.max_refusals) + ")";
}

} // namespace

void router::refuse(stream_id sid, const frame_header& req, errc code, const std::string& reason) {
  auto s = sid == 0 ? nullptr : find_stream(sid);
  if (auto n = s ? over_refusals(*s) : 0)
    report_violation(sid, code, req, refusal_flood(reason, n, opts_));
  else
    reply_dead(req, code, reason);
}

void router::refuse(stream& s, const frame_header& h, errc code, const std::string& reason) {
  if (auto n = over_refusals(s))
    violation(s, code, h, refusal_flood(reason, n, opts_));
  else
    reply_dead(h, code, reason);
}

} // namespace mitosis::router
