// A CAF mailbox element that holds a token until the actor is done with the
// message: the count of actor messages a child stream has waiting here
// (core::admit_message) falls when the element is destroyed: once the actor
// handled it, or dropped it at its exit (a blocking actor keeps the messages
// it skipped until the actor object itself is destroyed). Built as CAF's
// own element for a caf::message is (mailbox_element.cpp).
#pragma once

#include <memory>
#include <utility>

#include <caf/downstream_msg.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message.hpp>
#include <caf/message_builder.hpp>
#include <caf/type_erased_tuple.hpp>
#include <caf/upstream_msg.hpp>

namespace mitosis::actors::services {

class counted_element final : public caf::mailbox_element {
public:
  // As CAF's own element for a caf::message (mailbox_element.cpp): an empty
  // message is made a non-null empty one, so that moving it out never
  // yields a message without data.
  counted_element(caf::strong_actor_ptr sender, caf::message_id mid, caf::message content,
                  std::shared_ptr<void> token)
    : caf::mailbox_element(std::move(sender), category_of(content, mid), {}),
      msg_(content.vals() ? std::move(content) : caf::message_builder{}.to_message()),
      token_(std::move(token)) {}

  // A caf::message is a type_erased_tuple itself (CAF 0.17).
  caf::type_erased_tuple& content() override {
    return msg_;
  }
  const caf::type_erased_tuple& content() const override {
    return msg_;
  }
  caf::message move_content_to_message() override {
    return std::move(msg_);
  }
  caf::message copy_content_to_message() const override {
    return msg_;
  }

private:
  // The category CAF gives a message of its streaming.
  static caf::message_id category_of(const caf::message& m, caf::message_id mid) {
    if (m.match_elements<caf::downstream_msg>())
      return mid.with_category(caf::message_id::downstream_message_category);
    if (m.match_elements<caf::upstream_msg>())
      return mid.with_category(caf::message_id::upstream_message_category);
    return mid;
  }

  caf::message msg_;
  std::shared_ptr<void> token_;
};

/// A mailbox element for `content`, counted while `token` is set.
inline caf::mailbox_element_ptr counted_mailbox_element(caf::strong_actor_ptr sender,
                                                        caf::message_id mid, caf::message content,
                                                        std::shared_ptr<void> token) {
  if (!token)
    return caf::make_mailbox_element(std::move(sender), mid, {}, std::move(content));
  return caf::mailbox_element_ptr{
    new counted_element(std::move(sender), mid, std::move(content), std::move(token))};
}

} // namespace mitosis::actors::services
