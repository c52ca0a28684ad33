#include "log_service.hpp"

#include <algorithm>
#include <iterator>
#include <utility>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/spdlog.h>

#include "../../serialization/log.hpp"

namespace mitosis::actors::services {

using serialization::wire_type;

namespace {

// Sends every log line of an agent to the master as a log_record frame.
class forward_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  explicit forward_sink(router::router& r) : r_(r) {}

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    thread_local bool busy = false;
    if (busy)
      return;
    busy = true;
    serialization::log_info li{r_.config().name,
                               std::string{msg.logger_name.begin(), msg.logger_name.end()},
                               static_cast<int>(msg.level),
                               std::string{msg.payload.begin(), msg.payload.end()}};
    auto wire = serialization::frame_builder{serialization::make_header(
                                               wire_type::log_record, router::master_id,
                                               r_.config().self)}
                  .add(li)
                  .finish();
    r_.send(router::master_id, std::move(wire));
    busy = false;
  }
  void flush_() override {}

private:
  router::router& r_;
};

} // namespace

log_service::log_service(core& c) : core_(c) {
  log::set_level(c.opts().log_level);
  if (c.routes().config().has_parent) {
    log::sink()->set_sinks({std::make_shared<forward_sink>(c.routes())});
    // The program's own spdlog calls go to the master too.
    auto def = std::make_shared<spdlog::logger>("", log::sink());
    def->set_level(static_cast<spdlog::level::level_enum>(c.opts().log_level));
    spdlog::set_default_logger(def);
  }
  c.routes().handlers().add(wire_type::log_record,
                            [this](serialization::frame&& f, policy::direction,
                                   router::stream_id from) { on_record(f, from); });
  // A lost context's rate bucket goes with it: a program that starts and
  // loses contexts forever does not grow.
  c.on_lost([this](const std::vector<router::context_id>& ids, const std::string&) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto id : ids)
      buckets_.erase(id);
  });
}

log_service::~log_service() {
  stop_capture();
}

bool log_service::capture_output() {
  if (capture_ || !core_.routes().config().has_parent)
    return false;
  try {
    capture_ = std::make_unique<output_capture>(
      [this](bool from_stderr, std::string& line) { return forward_output(from_stderr, line); });
    return true;
  } catch (const std::exception& e) {
    lg()->warn("[{}] stdout and stderr are not forwarded: {}", core_.name(), e.what());
    return false;
  }
}

void log_service::stop_capture() {
  capture_.reset();
}

bool log_service::forward_output(bool from_stderr, std::string& line) {
  auto& r = core_.routes();
  serialization::log_info li{r.config().name, from_stderr ? "stderr" : "stdout",
                             from_stderr ? static_cast<int>(spdlog::level::warn)
                                         : static_cast<int>(spdlog::level::info),
                             line};
  auto wire = serialization::frame_builder{serialization::make_header(
                                             wire_type::log_record, router::master_id,
                                             r.config().self)}
                .add(li)
                .finish();
  // With the parent gone the line is not lost: it goes where stderr was.
  if (r.send(router::master_id, std::move(wire)) == errc::none)
    return true;
  line = "[" + li.context + ":" + li.logger + "] " + line;
  return false;
}

namespace {

// Refills `b` for the time since its last line; a fresh one starts full.
template <class Bucket>
void refill(Bucket& b, bool fresh, double rate, double burst, clock::time_point now) {
  if (fresh)
    b.tokens = burst;
  else
    b.tokens = std::min(burst, b.tokens + std::chrono::duration<double>(now - b.last).count() * rate);
  b.last = now;
}

} // namespace

bool log_service::admit(router::context_id src, router::stream_id from, std::uint64_t& dropped) {
  const auto rate = core_.opts().log_lines_per_second;
  const auto stream_rate = core_.opts().log_lines_per_second_per_child;
  dropped = 0;
  if (rate == 0 && (stream_rate == 0 || from == 0))
    return true;
  const double burst = std::max<std::uint32_t>(core_.opts().log_burst, 1);
  const auto now = clock::now();
  std::lock_guard<std::mutex> guard{mtx_};
  auto [i, fresh] = buckets_.try_emplace(src);
  auto& b = i->second;
  if (rate != 0)
    refill(b, fresh, rate, burst, now);
  else
    b.tokens = 1;
  bucket* per_stream = nullptr;
  if (stream_rate != 0 && from != 0) {
    const double stream_burst = 2.0 * stream_rate;
    auto [j, new_stream] = stream_buckets_.try_emplace(from);
    per_stream = &j->second; // erasing others leaves it in place
    if (new_stream && stream_buckets_.size() > 64) {
      // Those idle for as long as a bucket takes to fill up are full.
      const auto full_after = std::chrono::duration<double>(stream_burst / stream_rate);
      for (auto k = stream_buckets_.begin(); k != stream_buckets_.end();)
        k = k->first != from && now - k->second.last >= full_after ? stream_buckets_.erase(k)
                                                                   : std::next(k);
    }
    refill(*per_stream, new_stream, stream_rate, stream_burst, now);
  }
  if (b.tokens < 1 || (per_stream && per_stream->tokens < 1)) {
    ++b.dropped;
    return false;
  }
  if (rate != 0)
    b.tokens -= 1;
  if (per_stream)
    per_stream->tokens -= 1;
  // One report a second at most, so that a long flood does not turn into
  // as many reports as lines that pass.
  if (b.dropped > 0 && now - b.reported >= std::chrono::seconds{1}) {
    dropped = std::exchange(b.dropped, 0);
    b.reported = now;
  }
  return true;
}

void log_service::on_record(const serialization::frame& f, router::stream_id from) {
  // Before decoding: a flood costs a lookup per line, and nothing more.
  std::uint64_t dropped = 0;
  if (!admit(f.hdr.src, from, dropped))
    return;
  if (dropped > 0)
    lg()->warn("[{}] dropped {} log lines from context {} ('{}'): over log_lines_per_second ({}) "
               "or, for all contexts behind its child stream, log_lines_per_second_per_child ({})",
               core_.name(), dropped, f.hdr.src, core_.name_of(f.hdr.src),
               core_.opts().log_lines_per_second, core_.opts().log_lines_per_second_per_child);
  serialization::log_info li;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), li);
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable log record from context {}: {}", core_.name(),
                             f.hdr.src, e.what());
    core_.routes().refuse(from, f.hdr, e.code(), "undecodable log record");
    return;
  }
  auto logger = log::get_named(core_.name_of(f.hdr.src) + (li.logger.empty() ? "" : ":" + li.logger));
  auto level = static_cast<spdlog::level::level_enum>(
    std::clamp(li.level, 0, static_cast<int>(spdlog::level::critical)));
  logger->log(level, "{}", li.text);
}

} // namespace mitosis::actors::services
