#include "archive.hpp"

#include <cstring>

// A derived archive needs the member templates Boost keeps in .ipp files.
#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>

namespace boost::archive {
template class basic_binary_iprimitive<mitosis::serialization::bounded_iarchive, char,
                                       std::char_traits<char>>;
template class basic_binary_iarchive<mitosis::serialization::bounded_iarchive>;
template class binary_iarchive_impl<mitosis::serialization::bounded_iarchive, char,
                                    std::char_traits<char>>;
template class detail::archive_serializer_map<mitosis::serialization::bounded_iarchive>;
} // namespace boost::archive

namespace mitosis::serialization {

decode_error::decode_error(errc code, const std::string& detail)
  : std::runtime_error(std::string{to_string(code)} + (detail.empty() ? "" : ": ") + detail),
    code_(code) {
}

span_source::span_source(const char* data, std::size_t size) {
  auto p = const_cast<char*>(data);
  setg(p, p, p + size);
}

bounded_iarchive::bounded_iarchive(span_source& src)
  : base(src, archive_flags), src_(src) {
  init(archive_flags);
}

void bounded_iarchive::load_override(boost::serialization::collection_size_type& t) {
  base::load_override(t);
  // Every element occupies at least one byte, so a count above what is left
  // is a lie; refuse it before the container reserves anything.
  if (static_cast<std::size_t>(t) > remaining())
    throw decode_error(errc::count_exceeds_payload,
                       "count " + std::to_string(static_cast<std::size_t>(t)) + " with "
                         + std::to_string(remaining()) + " bytes left");
}

void bounded_iarchive::load_override(bool& b) {
  // Boost copies the byte straight into the bool: any value but 0 or 1
  // would be undefined behaviour (found by fuzz_payloads).
  unsigned char c = 0;
  load_binary(&c, 1);
  if (c > 1)
    throw decode_error(errc::protocol_error, "bool holds " + std::to_string(c));
  b = c == 1;
}

void bounded_iarchive::load_override(std::string& s) {
  // Same layout as basic_binary_iprimitive::load(std::string&): a size_t
  // length, then the bytes.
  std::size_t n = 0;
  load_binary(&n, sizeof(n));
  if (n > remaining())
    throw decode_error(errc::count_exceeds_payload,
                       "string length " + std::to_string(n) + " with "
                         + std::to_string(remaining()) + " bytes left");
  s.resize(n);
  if (n > 0)
    load_binary(s.data(), n);
}

} // namespace mitosis::serialization
