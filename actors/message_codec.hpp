// Decoding an actor message from another context straight into its mailbox
// element. CAF 0.17's message::load builds a dynamic message: the message
// data, a vector of type-erased values, one value object per element, then
// a mailbox element around it: five allocations for a string, freed by the
// CAF worker that runs the actor (often another thread than the reader),
// which is where glibc's allocator is slowest. For the element types listed here
// (CAF's builtin data types, and the types registered with
// MITOSIS_ACTOR_MESSAGE_TYPE), alone or after an atom, the element holds
// the values itself, as CAF's own `make_mailbox_element(sender, id, {}, x)`
// does for a local send: one allocation (plus what the values own).
// The bytes are read with the same deserializer and the same inspectors as
// message::load reads them; any other signature takes message::load. The
// sending side writes the same bytes as message::save, its header made once
// per element types (save_message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/execution_unit.hpp>
#include <caf/rtti_pair.hpp>
#include <caf/sec.hpp>
#include <caf/type_nr.hpp>
#include <caf/uniform_type_info_map.hpp>
#include <caf/detail/tuple_vals.hpp>
#include <caf/error.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/serializer.hpp>
#include <caf/type_erased_tuple.hpp>

namespace mitosis::actors {

/// A mailbox element holding its values (CAF's mailbox_element_vals, which
/// is final) and, while it lives, a token (see core::admit_message: the
/// count of a child's waiting messages falls when the element is gone).
template <class... Ts>
class element_vals final : public caf::mailbox_element,
                           public caf::detail::tuple_vals_impl<caf::type_erased_tuple, Ts...> {
public:
  element_vals(caf::message_id mid, std::shared_ptr<void> token)
    : caf::mailbox_element(nullptr, mid, {}), token_(std::move(token)) {}

  caf::type_erased_tuple& content() override {
    return *this;
  }
  const caf::type_erased_tuple& content() const override {
    return *this;
  }
  caf::message move_content_to_message() override {
    caf::message_factory f;
    auto& xs = this->data();
    return caf::detail::apply_moved_args(f, caf::detail::get_indices(xs), xs);
  }
  caf::message copy_content_to_message() const override {
    caf::message_factory f;
    auto& xs = this->data();
    return caf::detail::apply_args(f, caf::detail::get_indices(xs), xs);
  }

private:
  std::shared_ptr<void> token_;
};

/// Reads the elements (after the header) into a new element; null with
/// `err` set when the bytes do not hold them.
using element_decoder = caf::mailbox_element_ptr (*)(caf::binary_deserializer& src,
                                                     caf::message_id mid,
                                                     std::shared_ptr<void>&& token,
                                                     caf::error& err);

namespace detail {

/// Whether the system reading `src` knows `T` by name, as message::load
/// requires: a type registered after the system was built (by a plugin
/// module loaded later) or in another configuration is not known there.
template <class T>
bool known_here(caf::binary_deserializer& src) {
  if constexpr (caf::type_nr<T>::value != 0) {
    return true;
  } else {
    auto* ctx = src.context();
    if (ctx == nullptr)
      return false;
    const auto& types = ctx->system().types();
    return types.portable_name(caf::make_rtti_pair<T>()) != types.default_type_name();
  }
}

/// Reads one value as CAF's inspectors do, except that a byte vector's
/// count is checked against the bytes left before it is allocated (CAF
/// 0.17 resizes first: a few bytes could claim 4 GiB).
template <class T>
caf::error load_value(caf::binary_deserializer& src, T& x) {
  if constexpr (std::is_same_v<T, std::vector<char>>) {
    std::size_t n = 0;
    if (auto err = src.begin_sequence(n))
      return err;
    if (n > src.remaining())
      return caf::make_error(caf::sec::end_of_stream);
    x.resize(n);
    if (n > 0)
      if (auto err = src.apply_raw(n, x.data()))
        return err;
    return src.end_sequence();
  } else {
    return src(x);
  }
}

} // namespace detail

template <class... Ts>
caf::mailbox_element_ptr decode_element_vals(caf::binary_deserializer& src, caf::message_id mid,
                                             std::shared_ptr<void>&& token, caf::error& err) {
  if (!(detail::known_here<Ts>(src) && ...)) {
    err = caf::make_error(caf::sec::unknown_type);
    return nullptr;
  }
  auto* e = new element_vals<Ts...>(mid, std::move(token));
  caf::mailbox_element_ptr out{e};
  std::apply(
    [&](auto&... xs) { ((err = detail::load_value(src, xs)) || ...); }, e->data());
  if (err)
    return nullptr;
  return out;
}

/// Records the decoders of `name` alone and after an atom (for
/// MITOSIS_ACTOR_MESSAGE_TYPE); the first record of a signature stays.
void add_element_decoders(const std::string& name, element_decoder alone,
                          element_decoder after_atom);

/// The decoder of the signature `names` ("@<>+name+name..." as CAF writes
/// it), or null.
element_decoder find_element_decoder(std::string_view names);

/// Writes what caf::message::save(sink, x) writes, with the header
/// ("@<>+name+name...") made once per element types and thread instead of
/// once per message (CAF looks every name up and builds the string anew).
/// `key` names the actor system's registrations (new_codec_key(), one per
/// system): a header made for one system is never written for another.
caf::error save_message(caf::serializer& sink, const caf::type_erased_tuple& x,
                        std::uint64_t key);

/// A key for save_message, unique in this process.
std::uint64_t new_codec_key();

/// The header CAF 0.17's message::save writes ahead of the elements: a
/// uint16 0, then the string "@<>+name+name..." (a varbyte length and the
/// characters). `names` is that string, `size` the header's length.
struct message_header {
  std::string_view names;
  std::size_t size = 0;
};

/// Reads the header of a non-empty message; nothing when malformed.
bool read_message_header(std::string_view bytes, message_header& out);

} // namespace mitosis::actors
