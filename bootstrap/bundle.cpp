#include "bundle.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <mutex>
#include <spawn.h>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ssh_loader.hpp"
#include "../serialization/handshake.hpp"
#include "../serialization/sha256.hpp"

extern char** environ;

namespace mitosis::bootstrap {

const std::string& self_exe() {
  static const std::string path = [] {
    char buf[PATH_MAX];
    auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{"/proc/self/exe"};
  }();
  return path;
}


namespace {

std::string base_name(const std::string& p) {
  auto i = p.rfind('/');
  return i == std::string::npos ? p : p.substr(i + 1);
}

int collect_libs(dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (info->dlpi_name && info->dlpi_name[0] == '/')
    out->emplace_back(info->dlpi_name);
  return 0;
}

int find_interp(dl_phdr_info* info, size_t, void* data) {
  // The first object is the program itself.
  for (int i = 0; i < info->dlpi_phnum; ++i)
    if (info->dlpi_phdr[i].p_type == PT_INTERP) {
      *static_cast<std::string*>(data) =
        reinterpret_cast<const char*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
      break;
    }
  return 1;
}

std::string sha256_of_file(const std::string& path, std::uint64_t& size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  size = static_cast<std::uint64_t>(st.st_size);
  void* p = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
  ::close(fd);
  if (p == MAP_FAILED)
    throw std::runtime_error("cannot map " + path + ": " + std::strerror(errno));
  auto h = serialization::sha256_hex(p, size);
  if (p)
    ::munmap(p, size);
  return h;
}

// Runs /bin/sh -c `script` with "$1".. = args; returns its exit status.
int run_sh(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> store{"sh", "-c", script, "mitosis-bundle"};
  store.insert(store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : store)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = ::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), environ); rc != 0)
    throw std::runtime_error(std::string{"cannot run /bin/sh: "} + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string& installed_dir_storage() {
  static std::string dir = [] {
    auto v = std::getenv(bundle_env);
    std::string d = v ? v : "";
    ::unsetenv(bundle_env);
    return d;
  }();
  return dir;
}

// Builds the bundle of the running program in `dir`, or finds it there.
bundle build_own(const std::string& dir) {
  auto key = serialization::local_build_id();
  std::string prefix = key + "-";
  if (DIR* d = ::opendir(dir.c_str())) {
    std::string found;
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() == prefix.size() + 64 + 4 && n.compare(0, prefix.size(), prefix) == 0
          && n.compare(n.size() - 4, 4, ".tgz") == 0)
        found = n;
    }
    ::closedir(d);
    if (!found.empty()) {
      bundle b;
      b.archive = dir + "/" + found;
      b.sha256 = found.substr(prefix.size(), 64);
      struct stat st {};
      if (::stat(b.archive.c_str(), &st) == 0) {
        b.size = static_cast<std::uint64_t>(st.st_size);
        return b;
      }
    }
  }
  // libssh is loaded on demand: load it now, so that the bundle carries it
  // (and libcrypto) and a copy can start ssh hops of its own.
  load_libssh();
  // A staging directory of symlinks, packed with dereference: exe (without
  // its debug sections, which keeps the build-id), ld.so and every library
  // under the name the loader looks for.
  auto stage = dir + "/stage." + std::to_string(::getpid());
  auto tmp = dir + "/tmp." + std::to_string(::getpid()) + ".tgz";
  std::vector<std::string> args{stage, tmp, self_exe(), program_interpreter()};
  for (auto& l : loaded_libraries())
    args.push_back(l);
  // Reproducible: sorted names, fixed owner and mtime, no gzip timestamp.
  const char* script =
    "set -e; S=$1; T=$2; rm -rf \"$S\"; mkdir -m 700 \"$S\";"
    " strip --strip-debug -o \"$S/exe\" \"$3\" 2>/dev/null || ln -sf \"$3\" \"$S/exe\";"
    " ln -s \"$4\" \"$S/ld.so\"; shift 4;"
    " for l; do ln -sf \"$l\" \"$S/${l##*/}\"; done;"
    " (cd \"$S\" && tar -chf \"$T.tar\" --sort=name --owner=0 --group=0 --numeric-owner"
    " --mtime=@0 .); gzip -n -1 -c \"$T.tar\" > \"$T\"; rm -rf \"$S\" \"$T.tar\"";
  if (int rc = run_sh(script, args); rc != 0) {
    ::unlink(tmp.c_str());
    ::unlink((tmp + ".tar").c_str());
    throw std::runtime_error("building the agent bundle in " + dir + " failed (tar/gzip exit "
                             + std::to_string(rc) + ")");
  }
  bundle b;
  b.sha256 = sha256_of_file(tmp, b.size);
  b.archive = dir + "/" + prefix + b.sha256 + ".tgz";
  if (::rename(tmp.c_str(), b.archive.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename bundle to " + b.archive + ": " + std::strerror(errno));
  }
  return b;
}

} // namespace

std::string private_dir(const std::string& sub) {
  auto base = "/tmp/mitosis-" + std::to_string(::getuid());
  auto dir = base + "/" + sub;
  for (const auto& d : {base, dir}) {
    if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create " + d + ": " + std::strerror(errno));
    struct stat st {};
    if (::lstat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid()
        || (st.st_mode & 077) != 0)
      throw std::runtime_error(d + " is not a private directory of ours (0700, our uid)");
  }
  return dir;
}

const std::string& installed_bundle_dir() {
  return installed_dir_storage();
}

std::vector<std::string> loaded_libraries() {
  std::vector<std::string> all;
  dl_iterate_phdr(collect_libs, &all);
  auto interp = program_interpreter();
  auto plugins = "/tmp/mitosis-" + std::to_string(::getuid()) + "/";
  std::vector<std::string> out;
  for (auto& p : all) {
    if (p == interp || base_name(p) == base_name(interp) || p.rfind(plugins, 0) == 0)
      continue;
    out.push_back(p);
  }
  return out;
}

std::string program_interpreter() {
  std::string interp;
  dl_iterate_phdr(find_interp, &interp);
  return interp;
}

std::vector<std::string> self_command(const std::string& arg0) {
  const auto& dir = installed_bundle_dir();
  if (dir.empty()) {
    // The path (the kernel names the process after it), unless the file
    // there is no longer the image this process runs (rebuilt, replaced,
    // deleted: a copy of a newer build would fail the hello's build id).
    struct stat named {}, running {};
    const auto& path = self_exe();
    if (::stat(path.c_str(), &named) == 0 && ::stat("/proc/self/exe", &running) == 0
        && named.st_dev == running.st_dev && named.st_ino == running.st_ino)
      return {path};
    return {"/proc/self/exe"};
  }
  return {dir + "/ld.so", "--argv0", arg0, "--library-path", dir, dir + "/exe"};
}

const bundle& own_bundle() {
  static std::mutex mtx;
  static bundle cached;
  std::lock_guard<std::mutex> guard{mtx};
  if (!cached.sha256.empty())
    return cached;
  const auto& dir = installed_bundle_dir();
  if (!dir.empty()) {
    bundle b;
    b.archive = dir + "/b.tgz";
    b.sha256 = base_name(dir);
    struct stat st {};
    if (::stat(b.archive.c_str(), &st) != 0)
      throw std::runtime_error("installed bundle has no archive: " + b.archive);
    b.size = static_cast<std::uint64_t>(st.st_size);
    cached = b;
  } else {
    cached = build_own(private_dir("bundles"));
  }
  return cached;
}

} // namespace mitosis::bootstrap
