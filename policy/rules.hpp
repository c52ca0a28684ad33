// The pure rule set the policy actor evaluates; snapshots of it are what the
// router consults per frame.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mitosis::policy {

/// Which neighbour a frame came from, relative to this process.
enum class direction : std::uint8_t { from_parent, from_child };

/// Returns "parent" or "child".
const char* to_string(direction d) noexcept;

/// Deserialisation and call rights of one process. Immutable once published.
struct rules {
  /// Wire type ids this process may decode, per direction.
  std::set<std::uint32_t> types_from_parent;
  std::set<std::uint32_t> types_from_child;
  /// May the parent call any registered function here?
  bool parent_may_call = true;
  /// Functions (registered names) a child may call here; "*" means all.
  std::set<std::string> child_callable;
  /// May frames from one child be routed to another child's subtree?
  bool sibling_routing = false;
  /// Per-context overrides of the decodable types: frames whose source is
  /// one of these contexts are judged by its own set instead of the
  /// direction's (e.g. a child trusted with less, or with more).
  std::map<std::uint32_t, std::set<std::uint32_t>> types_from_context;
  /// Import policy for the plugin modules children request from us
  /// (Mitogen's ImportPolicy): a blocked module is refused; when overrides
  /// is not empty, only the modules in it are served.
  std::set<std::string> import_overrides;
  /// Per-context call rights: calls whose source is one of these contexts
  /// may reach exactly the functions named ("*" = all), whatever the
  /// direction's rule says.
  std::map<std::uint32_t, std::set<std::string>> callable_by_context;
  std::set<std::string> import_blocks;
  /// Spawn rights: the actor types (registered names, "*" = all) a peer
  /// may spawn here, per direction (default: the parent any, a child
  /// none) and per context (overriding the direction's set).
  std::set<std::string> spawnable_by_parent;
  std::set<std::string> spawnable_by_child;
  std::map<std::uint32_t, std::set<std::string>> spawnable_by_context;
  /// Message-type rights for actor messages: the CAF element type names
  /// ("@i32", "@str", "@atom", "@actor", or a user type's registered name;
  /// "*" = all) a message from a peer may hold, per direction (default:
  /// all) and per context (overriding the direction's set). Checked on
  /// the type names of the message's header, before its content is decoded.
  std::set<std::string> actor_types_from_parent;
  std::set<std::string> actor_types_from_child;
  std::map<std::uint32_t, std::set<std::string>> actor_types_from_context;
  /// Per-peer import rights: the plugin modules ("*" = all) that a module
  /// request from one of these contexts, or coming through one of them
  /// as a neighbour, may be served here, within import_overrides and
  /// import_blocks. Contexts without an entry are bound by those alone.
  /// Module requests go one hop at a time, so an entry takes effect at the
  /// named context's parent (set_subtree_policy for deeper contexts).
  std::map<std::uint32_t, std::set<std::string>> importable_by_context;

  /// Returns whether a frame of wire type `type` may be decoded from `d`.
  bool allows_type(direction d, std::uint32_t type) const noexcept;

  /// Returns whether a frame of wire type `type` from context `src`,
  /// arriving from `d`, may be decoded (per-context override first).
  bool allows_type(direction d, std::uint32_t src, std::uint32_t type) const noexcept;

  /// The same for a frame from `src` that came through the neighbour
  /// `peer`: `src`'s rights, and `peer`'s own per-context set when it has
  /// one (a neighbour can write the id of any context behind it, so what it
  /// may send bounds what its whole subtree may send through it).
  bool allows_type(direction d, std::uint32_t src, std::uint32_t peer,
                   std::uint32_t type) const noexcept;

  /// Returns whether `function` may be called by a peer in direction `d`.
  bool allows_call(direction d, std::string_view function) const;

  /// Returns whether context `src` (arriving from `d`) may call
  /// `function`: its per-context entry if any, else the direction's rule.
  bool allows_call(direction d, std::uint32_t src, std::string_view function) const;

  /// The same for a call from `src` that came through the neighbour
  /// `peer`: `peer`'s per-context entry, when it has one, must allow it too.
  bool allows_call(direction d, std::uint32_t src, std::uint32_t peer,
                   std::string_view function) const;

  /// Returns whether context `src` (arriving from `d`) may spawn an actor
  /// of the registered type `type` here.
  bool allows_spawn(direction d, std::uint32_t src, std::string_view type) const;

  /// Returns the first of `element_types` (a CAF message's element type
  /// names) that an actor message from context `src` (arriving from `d`)
  /// may not hold, or an empty string when all are allowed.
  std::string refused_actor_type(direction d, std::uint32_t src,
                                 const std::vector<std::string>& element_types) const;

  /// Whether an actor message from context `src` (arriving from `d`) may
  /// hold any type: then its type header need not be read.
  bool allows_any_actor_type(direction d, std::uint32_t src) const;

  /// The actor message types context `src` (arriving from `d`) may send.
  const std::set<std::string>& actor_types_for(direction d, std::uint32_t src) const;

  /// Returns an empty string when module `name` may be served to a
  /// child, else the rule that refuses it ("import_blocks" or
  /// "import_overrides").
  std::string import_refusal(const std::string& name) const;

  /// The same for a request from context `src` that came through the
  /// neighbour `peer`: their importable_by_context entries, when they have
  /// one, must name the module too (the rule's name then says whose,
  /// "importable_by_context.<id>").
  std::string import_refusal(const std::string& name, std::uint32_t src,
                             std::uint32_t peer) const;

  /// Returns the defaults: a parent may call its children; a child may call
  /// nothing in its parent; each direction decodes only what it needs.
  static rules defaults();

  /// Returns the rules encoded for a boot frame.
  std::vector<char> encode() const;

  /// Decodes rules written by encode(); throws serialization::decode_error.
  static rules decode(const std::vector<char>& bytes);

  /// Returns the defaults changed by the settings in `text`, one per line:
  ///   parent_may_call = true|false
  ///   child_callable = name, name, ...     (or *)
  ///   sibling_routing = true|false
  ///   types_from_parent = type, type, ...  (wire type names, see protocol.md)
  ///   types_from_child = type, type, ...
  ///   types_from_context.<id> = type, ...  (override for one context)
  ///   import_overrides = module, ...       import_blocks = module, ...
  ///   callable_by_context.<id> = name, ...  (call rights of one context)
  ///   spawnable_by_parent = type, ...  spawnable_by_child = type, ...  (or *)
  ///   spawnable_by_context.<id> = type, ...
  ///   actor_types_from_parent = @i32, @str, point, ...  (or *)
  ///   actor_types_from_child = ...   actor_types_from_context.<id> = ...
  ///   importable_by_context.<id> = module, ...  (or *)
  /// '#' starts a comment. Throws std::invalid_argument naming the line.
  static rules parse(const std::string& text);

  /// Reads parse()'s format from the file at `path`.
  static rules load(const std::string& path);
};

} // namespace mitosis::policy
