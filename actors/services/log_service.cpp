#include "log_service.hpp"

#include <algorithm>
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
                            [this](serialization::frame&& f, policy::direction, router::stream_id) {
                              on_record(f);
                            });
}

void log_service::on_record(const serialization::frame& f) {
  serialization::log_info li;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), li);
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable log record from context {}: {}", core_.name(),
                             f.hdr.src, e.what());
    return;
  }
  auto logger = log::get_named(core_.name_of(f.hdr.src) + (li.logger.empty() ? "" : ":" + li.logger));
  auto level = static_cast<spdlog::level::level_enum>(
    std::clamp(li.level, 0, static_cast<int>(spdlog::level::critical)));
  logger->log(level, "{}", li.text);
}

} // namespace mitosis::actors::services
