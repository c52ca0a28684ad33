// A CAF mailbox element that holds a token until the actor is done with the
// message: the count of actor messages a child stream has waiting here
// (core::admit_message) falls when the element is destroyed, whether the
// actor handled it, skipped and then dropped it, or exited first.
#pragma once

#include <memory>
#include <utility>

#include <caf/mailbox_element.hpp>
#include <caf/message.hpp>
#include <caf/type_erased_tuple.hpp>

namespace mitosis::actors::services {

class counted_element final : public caf::mailbox_element {
public:
  counted_element(caf::strong_actor_ptr sender, caf::message_id mid, caf::message content,
                  std::shared_ptr<void> token)
    : caf::mailbox_element(std::move(sender), mid, {}),
      msg_(std::move(content)),
      token_(std::move(token)) {}

  caf::type_erased_tuple& content() override {
    if (msg_.empty())
      return empty_;
    return msg_.content();
  }
  const caf::type_erased_tuple& content() const override {
    if (msg_.empty())
      return empty_;
    return msg_.content();
  }
  caf::message move_content_to_message() override {
    return std::move(msg_);
  }
  caf::message copy_content_to_message() const override {
    return msg_;
  }

private:
  caf::message msg_;
  caf::empty_type_erased_tuple empty_;
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
