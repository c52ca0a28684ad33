// Loads libssh.so.4 with dlopen and fills the function table (see
// ssh_loader.hpp).
#include "ssh_loader.hpp"

#include <dlfcn.h>

#include "ssh_method.hpp"

namespace mitosis::bootstrap {

namespace ssh_impl {

const libssh_api& lib() {
  static const libssh_api api = [] {
    libssh_api a;
    // Global: libssh's own dependencies resolve as if linked.
    void* h = ::dlopen("libssh.so.4", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      a.error = ::dlerror();
      return a;
    }
#define MITOSIS_LIBSSH_LOAD(f)                                                 \
  a.f = reinterpret_cast<decltype(&::f)>(::dlsym(h, #f));                      \
  if (!a.f && a.error.empty())                                                 \
    a.error = "libssh.so.4 has no " #f;
    MITOSIS_LIBSSH_FUNCS(MITOSIS_LIBSSH_LOAD)
#undef MITOSIS_LIBSSH_LOAD
    return a;
  }();
  return api;
}

void session_deleter::operator()(ssh_session s) const noexcept {
  if (s) {
    lib().ssh_disconnect(s);
    lib().ssh_free(s);
  }
}

} // namespace ssh_impl

std::string load_libssh() {
  return ssh_impl::lib().error;
}

} // namespace mitosis::bootstrap
