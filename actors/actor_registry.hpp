// The registry of actor types other contexts may spawn here, and
// MITOSIS_ACTOR. Every copy of the program fills it during static
// initialisation, so a name means the same function in every context.
#pragma once

#include <cstddef>
#include <set>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_config.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>
#include <caf/infer_handle.hpp>
#include <caf/message.hpp>

#include "../serialization/errc.hpp"
#include "message_codec.hpp"

namespace mitosis {

/// The category of mitosis errors in CAF's error system: the exit reason
/// of a remote actor whose context was lost is
/// `make_error(errc::context_lost, why)`, and `reason == errc::context_lost`
/// holds for it (CAF compares code and category).
inline constexpr caf::atom_value error_category = caf::atom("mitosis");

/// Returns `code` as a caf::error of error_category, with `reason` as its
/// context (found by CAF through argument-dependent lookup).
caf::error make_error(errc code, std::string reason = {});

} // namespace mitosis

namespace mitosis::actors {

/// Makes `cfg` render errors of error_category ("mitosis::<message>: why").
void add_error_category(caf::actor_system_config& cfg);

/// Adds one message type to a CAF config under `name`.
using message_type_adder = void (*)(caf::actor_system_config& cfg, const std::string& name);

/// Spawns the actor in `sys` with the arguments in `args`; returns nullptr
/// when the arguments do not match the function's parameters.
/// Spawns the type with `args`; the new actor first runs on `host` (null:
/// CAF's scheduler), as `spawn` from inside an actor does on its worker.
using actor_factory = caf::strong_actor_ptr (*)(caf::actor_system& sys, const caf::message& args,
                                                caf::execution_unit* host);

/// Returns the messaging interface of the actor type as `sys` names it
/// (caf::actor_system::message_types): empty for a dynamically typed actor.
using actor_interface = std::set<std::string> (*)(caf::actor_system& sys);

/// Returns the actor a typed handle (a value of one registered handle
/// type, type-erased) points to.
using handle_reader = caf::strong_actor_ptr (*)(const void* handle);

struct actor_entry {
  std::string name;
  actor_factory spawn;
  actor_interface interface;
};

/// Process-wide; filled during static initialisation, read-only afterwards.
class actor_registry {
public:
  static actor_registry& instance();

  /// Registers `e` under its name. Returns false if the name is taken by
  /// another factory.
  bool add(actor_entry e);

  /// Returns the entry for `name`, or nullptr.
  const actor_entry* find(const std::string& name) const;

  /// Records a user message type (MITOSIS_ACTOR_MESSAGE_TYPE).
  void add_message_type(std::string name, message_type_adder add);

  /// Records the typed handle type `t` of an actor type (MITOSIS_ACTOR):
  /// it is added to every config as the message type `name` (the first
  /// name recorded for `t`), and handle_in() can read it.
  void add_handle_type(std::type_index t, std::string name, message_type_adder add,
                       handle_reader read);

  /// Returns the actor of a value of type `t` at `x` when `t` is a
  /// recorded typed handle type, else nullptr.
  caf::strong_actor_ptr handle_in(std::type_index t, const void* x) const;

  /// Adds every recorded message type to `cfg` (before the system is built).
  void configure(caf::actor_system_config& cfg) const;

private:
  struct handle_type {
    std::string name;
    message_type_adder add;
    handle_reader read;
  };
  std::unordered_map<std::type_index, handle_type> handle_types_;
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, actor_entry> by_name_;
  std::vector<std::pair<std::string, message_type_adder>> message_types_;
};

namespace detail {

template <class F>
struct actor_fn_traits;

/// caf::behavior f(caf::event_based_actor*, Args...) or
/// Iface::behavior_type f(Iface::pointer, Args...).
template <class R, class Self, class... Args>
struct actor_fn_traits<R (*)(Self, Args...)> {
  using handle = caf::infer_handle_from_fun_t<R (*)(Self, Args...)>;
  template <auto Fn, std::size_t... I>
  static caf::strong_actor_ptr spawn(caf::actor_system& sys, const caf::message& args,
                                     caf::execution_unit* host, std::index_sequence<I...>) {
    if (args.size() != sizeof...(Args) || !args.match_elements<std::decay_t<Args>...>())
      return nullptr;
    // actor_system::spawn with an actor_config naming the host, which is
    // what spawning from inside an actor does.
    caf::actor_config cfg{host};
    auto fn = Fn;
    return caf::actor_cast<caf::strong_actor_ptr>(sys.spawn_functor<caf::no_spawn_options>(
      caf::detail::bool_token<true>{}, cfg, fn, args.get_as<std::decay_t<Args>>(I)...));
  }
  static constexpr std::size_t arity = sizeof...(Args);
};

template <auto Fn>
struct actor_registrar {
  using traits = actor_fn_traits<decltype(Fn)>;
  explicit actor_registrar(const char* name) {
    actor_registry::instance().add(actor_entry{
      name,
      [](caf::actor_system& sys, const caf::message& args, caf::execution_unit* host) {
        return traits::template spawn<Fn>(sys, args, host,
                                          std::make_index_sequence<traits::arity>{});
      },
      [](caf::actor_system& sys) { return sys.message_types<typename traits::handle>(); }});
    using handle = typename traits::handle;
    if constexpr (!std::is_same_v<handle, caf::actor>)
      actor_registry::instance().add_handle_type(
        typeid(handle), std::string{"mitosis.handle<"} + name + ">",
        [](caf::actor_system_config& cfg, const std::string& n) {
          cfg.add_message_type<handle>(n);
        },
        [](const void* x) {
          return caf::actor_cast<caf::strong_actor_ptr>(*static_cast<const handle*>(x));
        });
  }
};

template <class T>
struct message_type_registrar {
  explicit message_type_registrar(const char* name) {
    actor_registry::instance().add_message_type(
      name, [](caf::actor_system_config& cfg, const std::string& n) { cfg.add_message_type<T>(n); });
    add_element_decoders(name, &decode_element_vals<T>, &decode_element_vals<caf::atom_value, T>);
  }
};

} // namespace detail

} // namespace mitosis::actors

#define MITOSIS_ACTOR_CAT_I(a, b) a##b
#define MITOSIS_ACTOR_CAT(a, b) MITOSIS_ACTOR_CAT_I(a, b)

/// Makes the actor function `fn` spawnable by name from other contexts
/// (context::spawn). `fn` is `caf::behavior fn(caf::event_based_actor*,
/// Args...)` or `Iface::behavior_type fn(Iface::pointer, Args...)`. Use at
/// namespace scope in the program's sources.
#define MITOSIS_ACTOR(name, fn)                                                \
  static const ::mitosis::actors::detail::actor_registrar<&fn>                 \
    MITOSIS_ACTOR_CAT(mitosis_actor_, __COUNTER__) {                           \
    name                                                                       \
  }

/// Makes the user type `T` (with an `inspect` overload for CAF) usable in
/// messages to and from actors of other contexts: every copy adds it to its
/// actor system's config under the name written here. Use at namespace
/// scope, next to the type or the actors that use it.
#define MITOSIS_ACTOR_MESSAGE_TYPE(T)                                          \
  static const ::mitosis::actors::detail::message_type_registrar<T>            \
    MITOSIS_ACTOR_CAT(mitosis_message_type_, __COUNTER__) {                    \
    #T                                                                         \
  }
