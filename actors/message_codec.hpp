// Decoding an actor message from another context straight into its mailbox
// element. CAF 0.17's message::load builds a dynamic message: the message
// data, a vector of type-erased values, one value object per element, then
// a mailbox element around it: five allocations for a string, freed by the
// CAF worker that runs the actor (another thread than the reader), which is
// where glibc's allocator is slowest. For the element types listed here
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
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <caf/deserializer.hpp>
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
using element_decoder = caf::mailbox_element_ptr (*)(caf::deserializer& src, caf::message_id mid,
                                                     std::shared_ptr<void>&& token,
                                                     caf::error& err);

template <class... Ts>
caf::mailbox_element_ptr decode_element_vals(caf::deserializer& src, caf::message_id mid,
                                             std::shared_ptr<void>&& token, caf::error& err) {
  auto* e = new element_vals<Ts...>(mid, std::move(token));
  caf::mailbox_element_ptr out{e};
  for (std::size_t i = 0; i < sizeof...(Ts); ++i)
    if ((err = e->load(i, src)))
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
caf::error save_message(caf::serializer& sink, const caf::type_erased_tuple& x);

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
