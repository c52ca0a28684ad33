// The actor service's encoding: actor messages and exit reasons in CAF's
// binary format (through the message codec, message_codec.hpp), and the
// actor_message frame around them.
#include "actor_state.hpp"
#include "counted_element.hpp"

namespace mitosis::actors::services {

expected<void> actor_service::state::encode_append(const caf::type_erased_tuple& x,
                                                   std::vector<char>& buf) {
  if (x.empty())
    return {};
  auto before = buf.size();
  auto err = with_unit([&](caf::execution_unit* u) {
    caf::binary_serializer sink{u, buf};
    return save_message(sink, x, codec_key);
  });
  if (err)
    return fail(errc::protocol_error, "cannot serialise the message: " + sys.render(err));
  if (buf.size() == before)
    return fail(errc::protocol_error,
                "cannot serialise the message: a type in it is not registered with CAF");
  return {};
}

expected<std::vector<char>> actor_service::state::encode(const caf::type_erased_tuple& x) {
  std::vector<char> buf;
  if (auto ok = encode_append(x, buf); !ok)
    return std::move(ok).error();
  return buf;
}

expected<caf::message> actor_service::state::decode(const char* p, std::size_t n) {
  caf::message out;
  if (n == 0)
    return out;
  auto err = with_unit([&](caf::execution_unit* u) {
    caf::binary_deserializer src{u, p, n};
    return out.load(src);
  });
  if (err)
    return fail(errc::protocol_error, "cannot deserialise the message: " + sys.render(err));
  return out;
}

expected<caf::mailbox_element_ptr>
actor_service::state::decode_element(const char* p, std::size_t n, caf::message_id mid,
                                     std::shared_ptr<void> token) {
  message_header h;
  element_decoder fn = nullptr;
  if (n > 0 && read_message_header({p, n}, h))
    fn = find_element_decoder(h.names);
  if (!fn) {
    auto content = decode(p, n);
    if (!content)
      return std::move(content).error();
    return counted_mailbox_element(nullptr, mid, std::move(*content), std::move(token));
  }
  caf::error err;
  auto out = with_unit([&](caf::execution_unit* u) {
    caf::binary_deserializer src{u, p + h.size, n - h.size};
    return fn(src, mid, std::move(token), err);
  });
  if (err)
    return fail(errc::protocol_error, "cannot deserialise the message: " + sys.render(err));
  return out;
}

std::vector<char> actor_service::state::encode_error(const caf::error& e) {
  std::vector<char> buf;
  with_unit([&](caf::execution_unit* u) {
    caf::binary_serializer sink{u, buf};
    auto copy = e;
    return sink(copy);
  });
  return buf;
}

caf::error actor_service::state::decode_error(const std::vector<char>& bytes) {
  caf::error out;
  auto err = with_unit([&](caf::execution_unit* u) {
    caf::binary_deserializer src{u, bytes};
    return src(out);
  });
  return err ? caf::error{caf::exit_reason::unknown} : out;
}

expected<void> actor_service::state::append_message(std::vector<char>& out,
                                                    const serialization::frame_header& h,
                                                    const message_head& m,
                                                    const caf::type_erased_tuple& x) {
  // The layout of serialization::encode_plain(actor_message_info): the
  // fixed fields as the plain codec writes them (host order, no padding),
  // then a u64 count patched once the content is written after it.
  auto put = [&out](const auto& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    out.insert(out.end(), p, p + sizeof(v));
  };
  auto at = out.size();
  out.resize(at + serialization::frame_header::size);
  put(m.dst);
  put(m.sender_ctx);
  put(m.sender);
  put(m.mid);
  put(std::uint64_t{0});
  auto body = out.size();
  if (auto ok = encode_append(x, out); !ok)
    return std::move(ok).error();
  auto n = static_cast<std::uint64_t>(out.size() - body);
  std::memcpy(out.data() + body - sizeof(n), &n, sizeof(n));
  auto hdr = h;
  hdr.length = static_cast<std::uint32_t>(out.size() - at - serialization::frame_header::size);
  serialization::encode(hdr, reinterpret_cast<std::byte*>(out.data() + at));
  return {};
}

bool actor_service::state::decode_or_warn(const frame& f, message_head& m) {
  try {
    serialization::plain_reader r{f.payload.data(), f.payload.size()};
    std::uint64_t n = 0;
    r.get(m.dst);
    r.get(m.sender_ctx);
    r.get(m.sender);
    r.get(m.mid);
    r.get(n);
    if (n != r.remaining())
      throw serialization::decode_error(errc::count_exceeds_payload,
                                        "content of " + std::to_string(n) + " bytes with "
                                          + std::to_string(r.remaining()) + " left");
    m.content = r.position();
    m.size = r.remaining();
    return true;
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable actor_message from context {}: {}", core_.name(), f.hdr.src,
               e.what());
    return false;
  }
}

} // namespace mitosis::actors::services
