// The decoders of actor messages with known element types (see
// message_codec.hpp).
#include "message_codec.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/execution_unit.hpp>
#include <caf/message.hpp>
#include <caf/uniform_type_info_map.hpp>
#include <caf/timestamp.hpp>
#include <caf/type_nr.hpp>

namespace mitosis::actors {

namespace {

struct name_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

using decoder_map = std::unordered_map<std::string, element_decoder, name_hash, std::equal_to<>>;

// CAF's builtin data types (no actor handles: those become proxies through
// the same inspectors either way, and are rare in a hot loop).
template <class T>
std::string builtin_name() {
  return caf::numbered_type_names[caf::type_nr<T>::value - 1];
}

template <class T>
void add_builtin(decoder_map& m) {
  const auto name = builtin_name<T>();
  m.emplace("@<>+" + name, &decode_element_vals<T>);
  m.emplace("@<>+@atom+" + name, &decode_element_vals<caf::atom_value, T>);
}

const decoder_map& builtins() {
  static const decoder_map m = [] {
    decoder_map out;
    add_builtin<std::string>(out);
    add_builtin<caf::atom_value>(out);
    add_builtin<bool>(out);
    add_builtin<std::int8_t>(out);
    add_builtin<std::uint8_t>(out);
    add_builtin<std::int16_t>(out);
    add_builtin<std::uint16_t>(out);
    add_builtin<std::int32_t>(out);
    add_builtin<std::uint32_t>(out);
    add_builtin<std::int64_t>(out);
    add_builtin<std::uint64_t>(out);
    add_builtin<float>(out);
    add_builtin<double>(out);
    add_builtin<caf::timespan>(out);
    add_builtin<caf::timestamp>(out);
    add_builtin<std::vector<char>>(out);
    add_builtin<std::vector<std::string>>(out);
    add_builtin<std::set<std::string>>(out);
    add_builtin<std::map<std::string, std::string>>(out);
    return out;
  }();
  return m;
}

// The types of MITOSIS_ACTOR_MESSAGE_TYPE: filled during static
// initialisation, and when a plugin module is loaded.
struct user_decoders {
  std::shared_mutex mtx;
  decoder_map map;
  std::atomic<bool> any{false};
};

user_decoders& users() {
  static user_decoders u;
  return u;
}

} // namespace

void add_element_decoders(const std::string& name, element_decoder alone,
                          element_decoder after_atom) {
  auto& u = users();
  std::unique_lock<std::shared_mutex> guard{u.mtx};
  u.map.emplace("@<>+" + name, alone);
  u.map.emplace("@<>+@atom+" + name, after_atom);
  u.any.store(true, std::memory_order_release);
}

element_decoder find_element_decoder(std::string_view names) {
  const auto& b = builtins();
  if (auto i = b.find(names); i != b.end())
    return i->second;
  auto& u = users();
  if (!u.any.load(std::memory_order_acquire))
    return nullptr;
  std::shared_lock<std::shared_mutex> guard{u.mtx};
  auto i = u.map.find(names);
  return i == u.map.end() ? nullptr : i->second;
}

std::uint64_t new_codec_key() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

caf::error save_message(caf::serializer& sink, const caf::type_erased_tuple& x,
                        std::uint64_t key) {
  if (x.empty() || sink.context() == nullptr)
    return caf::message::save(sink, x);
  // The last element types this thread wrote, for the last system.
  struct header_cache {
    std::uint64_t key = 0;
    std::vector<caf::rtti_pair> rtti;
    std::string names;
  };
  thread_local header_cache c;
  const auto& types = sink.context()->system().types();
  const auto n = x.size();
  bool same = c.key == key && c.rtti.size() == n;
  for (std::size_t i = 0; same && i < n; ++i)
    same = x.type(i) == c.rtti[i];
  if (!same) {
    header_cache next{key, {}, "@<>"};
    for (std::size_t i = 0; i < n; ++i) {
      auto rtti = x.type(i);
      const auto& name = types.portable_name(rtti);
      if (name == types.default_type_name())
        return caf::message::save(sink, x); // not registered: CAF reports it
      next.rtti.push_back(rtti);
      next.names += '+';
      next.names += name;
    }
    c = std::move(next);
  }
  std::uint16_t zero = 0;
  if (auto err = sink.begin_object(zero, c.names))
    return err;
  for (std::size_t i = 0; i < n; ++i)
    if (auto err = x.save(i, sink))
      return err;
  return sink.end_object();
}

bool read_message_header(std::string_view bytes, message_header& out) {
  if (bytes.size() < 3 || bytes[0] != 0 || bytes[1] != 0)
    return false;
  std::size_t pos = 2;
  std::uint64_t len = 0;
  for (int shift = 0;; shift += 7) {
    if (pos >= bytes.size() || shift > 28)
      return false;
    auto b = static_cast<std::uint8_t>(bytes[pos++]);
    len |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0)
      break;
  }
  if (len > bytes.size() - pos)
    return false;
  out.names = bytes.substr(pos, len);
  out.size = pos + len;
  return true;
}

} // namespace mitosis::actors
