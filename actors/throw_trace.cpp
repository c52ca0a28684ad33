#include "throw_trace.hpp"

#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <memory>
#include <typeinfo>

namespace mitosis::actors::throw_trace {

namespace {

constexpr int max_frames = 48;

struct record {
  bool on = false;
  int depth = 0;
  void* frames[max_frames];
};

thread_local record t_rec;

// The demangled function of one backtrace_symbols line
// ("prog(_Z9fail_withi+0x3c) [0x55...]"), with its offset and object.
std::string frame_text(const char* line) {
  std::string s{line};
  auto open = s.find('(');
  auto plus = s.find('+', open == std::string::npos ? 0 : open);
  auto close = s.find(')', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos)
    return s;
  std::string object = s.substr(0, open);
  if (auto slash = object.rfind('/'); slash != std::string::npos)
    object.erase(0, slash + 1);
  if (plus == std::string::npos || plus > close || plus == open + 1) {
    // No symbol (not exported, or static): the offset in the object, for addr2line.
    return "?? " + s.substr(open + 1, close - open - 1) + " in " + object;
  }
  std::string mangled = s.substr(open + 1, plus - open - 1);
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d{
    abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status), std::free};
  return (status == 0 && d ? std::string{d.get()} : mangled) + s.substr(plus, close - plus)
         + " in " + object;
}

} // namespace

void warm() noexcept {
  // The first backtrace() loads libgcc_s: do it here, not inside a throw.
  static const bool warmed = [] {
    void* f[1];
    return ::backtrace(f, 1) >= 0;
  }();
  (void)warmed;
}

scope::scope() noexcept : outer_(t_rec.on) {
  warm();
  t_rec.on = true;
  t_rec.depth = 0;
}

scope::~scope() {
  t_rec.on = outer_;
}

std::string take() {
  int depth = t_rec.depth;
  t_rec.depth = 0;
  if (depth <= 1)
    return {};
  // A return address is the instruction after the call, which for a call
  // the compiler knows does not return (a function that always throws) is
  // already past the caller's end: name the call itself.
  void* calls[max_frames];
  for (int i = 0; i < depth; ++i)
    calls[i] = static_cast<char*>(t_rec.frames[i]) - (i > 0 ? 1 : 0);
  std::unique_ptr<char*, void (*)(void*)> names{::backtrace_symbols(calls, depth), std::free};
  if (!names)
    return {};
  std::string out;
  // Frame 0 is the hook itself.
  for (int i = 1; i < depth; ++i) {
    auto text = frame_text(names.get()[i]);
    // Below the call service is the pool: noise for the reader.
    if (text.find("mitosis::actors::services::call_service::run") != std::string::npos)
      break;
    out += "#" + std::to_string(i) + " " + text + "\n";
  }
  return out;
}

} // namespace mitosis::actors::throw_trace

// Every `throw` expression calls __cxa_throw. A program linked with this
// library gets this definition ahead of libstdc++'s (an executable's symbols
// come first): it records the stack when a scope is open on the thread, then
// hands the exception to the real one. Off a scope it costs one
// thread-local load.
namespace __cxxabiv1 {
extern "C" void __cxa_throw(void* obj, std::type_info* type, void (*dtor)(void*)) {
  using real_fn = void (*)(void*, std::type_info*, void (*)(void*));
  static real_fn real = reinterpret_cast<real_fn>(::dlsym(RTLD_NEXT, "__cxa_throw"));
  auto& r = mitosis::actors::throw_trace::t_rec;
  if (r.on)
    r.depth = ::backtrace(r.frames, mitosis::actors::throw_trace::max_frames);
  real(obj, type, dtor);
  std::abort(); // the real one does not return
}
} // namespace __cxxabiv1
