#include "handshake.hpp"

#include <algorithm>
#include <cstring>
#include <elf.h>
#include <link.h>
#include <sys/stat.h>

namespace mitosis::serialization {

namespace {

std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 0xf];
  }
  return out;
}

int find_build_id(dl_phdr_info* info, size_t, void* data) {
  // The first object reported is the main program.
  auto* out = static_cast<std::string*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE)
      continue;
    auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
    auto* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
      auto name = p + sizeof(ElfW(Nhdr));
      auto desc = name + ((nh->n_namesz + 3) & ~3u);
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4
          && std::memcmp(name, "GNU", 4) == 0) {
        *out = to_hex(desc, nh->n_descsz);
        return 1;
      }
      p = desc + ((nh->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

std::string compute_build_id() {
  std::string id;
  dl_iterate_phdr(find_build_id, &id);
  if (!id.empty())
    return id.substr(0, hello::size - 16);
  struct stat st {};
  if (::stat("/proc/self/exe", &st) == 0)
    return "exe-" + std::to_string(st.st_size) + "-" + std::to_string(st.st_mtime);
  return "unknown";
}

void put32_at(std::byte* p, std::uint32_t x) noexcept {
  p[0] = std::byte(x >> 24);
  p[1] = std::byte(x >> 16);
  p[2] = std::byte(x >> 8);
  p[3] = std::byte(x);
}

std::uint32_t get32_at(const std::byte* p) noexcept {
  return (std::to_integer<std::uint32_t>(p[0]) << 24)
         | (std::to_integer<std::uint32_t>(p[1]) << 16)
         | (std::to_integer<std::uint32_t>(p[2]) << 8)
         | std::to_integer<std::uint32_t>(p[3]);
}

constexpr std::size_t id_capacity = hello::size - 16;

} // namespace

const std::string& local_build_id() {
  static const std::string id = compute_build_id();
  return id;
}

hello local_hello() {
  return hello{protocol_version, local_build_id()};
}

void encode(const hello& h, std::byte* out) noexcept {
  std::memset(out, 0, hello::size);
  std::memcpy(out, hello::magic.data(), hello::magic.size());
  put32_at(out + 8, h.version);
  auto n = std::min(h.build_id.size(), id_capacity);
  put32_at(out + 12, static_cast<std::uint32_t>(n));
  std::memcpy(out + 16, h.build_id.data(), n);
}

hello_check check_hello(const std::byte* in, const hello& ours) {
  hello_check res;
  if (std::memcmp(in, hello::magic.data(), hello::magic.size()) != 0) {
    res.reason = "peer did not start with the mitosis hello (not a mitosis agent, "
                 "or something wrote to the stream first)";
    return res;
  }
  res.peer.version = get32_at(in + 8);
  auto n = get32_at(in + 12);
  if (n > id_capacity) {
    res.reason = "peer hello carries a build id longer than "
                 + std::to_string(id_capacity) + " bytes";
    return res;
  }
  res.peer.build_id.assign(reinterpret_cast<const char*>(in + 16), n);
  auto ours_id = ours.build_id.substr(0, id_capacity);
  if (res.peer.version != ours.version || res.peer.build_id != ours_id) {
    res.reason = "handshake mismatch: ours is protocol " + std::to_string(ours.version)
                 + " build " + ours_id + ", peer is protocol "
                 + std::to_string(res.peer.version) + " build " + res.peer.build_id;
    return res;
  }
  res.ok = true;
  return res;
}

} // namespace mitosis::serialization
