// Forward declarations of the data plane (router/), for headers that only
// pass these types along.
#pragma once

#include <cstdint>

namespace mitosis::router {

using context_id = std::uint32_t;
using stream_id = std::uint32_t;

class handler_table;
class router;
class routing_table;
class stream;
class stream_driver;
class unique_fd;
struct options;
struct router_config;
struct stream_options;

} // namespace mitosis::router
