// Unit tests of SHA-256 against the standard test vectors.
#include "mitosis/serialization/sha256.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <string>

using mitosis::serialization::sha256_hex;

TEST_CASE("sha256: standard vectors", "[sha256]") {
  auto hex = [](const std::string& s) { return sha256_hex(s.data(), s.size()); };
  CHECK(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex(std::string(1000000, 'a'))
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: a stream fed in pieces of every size gives the one-shot digest", "[sha256]") {
  std::string data;
  for (int i = 0; i < 1000; ++i)
    data += static_cast<char>(i * 7);
  for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 500u}) {
    mitosis::serialization::sha256_stream s;
    for (std::size_t at = 0; at < data.size(); at += piece)
      s.update(data.data() + at, std::min(piece, data.size() - at));
    CHECK(s.hex() == sha256_hex(data.data(), data.size()));
  }
}
