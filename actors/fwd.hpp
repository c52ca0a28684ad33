// Forward declarations of the user API and the per-process runtime
// (actors/ and actors/services/).
#pragma once

namespace mitosis {

class context;
class master;
class error;
template <class R>
class future;

namespace actors {

class dispatcher;
class actor_registry;
class pending_calls;
class runtime;

namespace services {
class actor_service;
class call_service;
class core;
class blob_service;
class file_service;
class push_service;
class file_store;
class id_service;
class log_service;
class module_service;
class rules_service;
class start_service;
} // namespace services

} // namespace actors
} // namespace mitosis
