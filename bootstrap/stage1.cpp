#include "stage1.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "../router/stream.hpp"

namespace mitosis::bootstrap {

std::string sh_quote(const std::string& s) {
  // '!' goes outside the quotes, escaped: csh and tcsh (a login shell that
  // sshd or su runs the command through) expand history even inside single
  // quotes, and \! unquoted is '!' in every shell.
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else if (c == '!')
      out += "'\\!'";
    else
      out += c;
  }
  return out + "'";
}

std::string stage1_script(const bundle& b, const std::string& cache_dir, const std::string& arg0,
                          bool quiet_stderr) {
  // Kept short: it crosses the wire on every start. E fails with a line the
  // parent reports; c takes a directory if it is (made) private and ours.
  // k is the fast path of a cached start: builtins only, no process is
  // started before the agent itself.
  // (&& and || group left to right in sh: the braces keep c from running
  // after k succeeded.) One line: sshd and su hand `/bin/sh -c '<script>'`
  // to the user's login shell, and csh/tcsh end a quoted word at a newline;
  // no '!' is followed by anything but a blank (csh history).
  std::string dirs = cache_dir.empty()
                       ? "{ [ \"$HOME\" ]&&{ k \"$HOME/.cache/mitosis\"||c "
                         "\"$HOME/.cache/mitosis\";};}||c /tmp/mitosis-`id -u`"
                       : "k " + sh_quote(cache_dir) + "||c " + sh_quote(cache_dir);
  return "umask 077;H=" + b.sha256 + ";N=" + std::to_string(b.size)
         + ";E(){ echo \"MXERR $*\";exit 1;};"
           "k(){ [ ! -h \"$1\" ]&&[ -O \"$1\" ]&&[ ! -h \"$1/$H\" ]&&[ -O \"$1/$H\" ]&&D=$1;};"
           "c(){ [ ! -h \"$1\" ]&&mkdir -p \"$1\" 2>/dev/null&&[ ! -h \"$1\" ]&&chmod 700 \"$1\"&&[ -O \"$1\" ]&&[ -w \"$1\" ]&&D=$1;};"
         + dirs
         + "||E 'no writable cache directory';"
           "B=$D/$H;"
           "if [ ! -d \"$B\" ];then echo MXNEED;T=$D/.$H.$$;rm -rf \"$T\" \"$T.z\" \"$T.s\";"
           "F(){ wait;rm -rf \"$T\" \"$T.z\" \"$T.s\";E \"$@\";};"
           "mkdir \"$T\"||F \"cannot create $T\";"
           "head -c $N >\"$T.z\"||F \"cannot write $T.z (disk full?)\";"
           "[ `wc -c <\"$T.z\"` -eq $N ]||F 'short bundle: the sender stopped';"
           "sha256sum \"$T.z\" >\"$T.s\"& "
           "tar -xzf \"$T.z\" -C \"$T\"||F \"cannot unpack in $D (disk full?)\";"
           "wait;read S X <\"$T.s\";[ \"$S\" = $H ]||F 'bundle hash mismatch';"
           "mv \"$T.z\" \"$T/b.tgz\"&&rm -f \"$T.s\"||F \"cannot install in $D\";"
           "mv \"$T\" \"$B\" 2>/dev/null;rm -rf \"$T\" \"$B/.$H.$$\";fi;"
           "echo MXOK;MITOSIS_AGENT=1 MITOSIS_BUNDLE=$B exec \"$B/ld.so\" --argv0 "
         + sh_quote(arg0) + " --library-path \"$B\" \"$B/exe\"" + (quiet_stderr ? " 2>/dev/null" : "");
}

namespace {

using clock = std::chrono::steady_clock;

int ms_left(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 1 << 30));
}

std::string to_lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains_any(const std::string& lowered, const std::vector<std::string>& texts) {
  for (const auto& t : texts)
    if (!t.empty() && lowered.find(to_lower(t)) != std::string::npos)
      return true;
  return false;
}

bool is_prompt(const std::string& text, const std::vector<std::string>& more) {
  auto l = to_lower(text);
  if (contains_any(l, more))
    return true;
  // Trailing blanks aside, a prompt ends with ':' and mentions a password.
  auto end = l.find_last_not_of(" \t");
  return end != std::string::npos && l[end] == ':' && l.find("password") != std::string::npos;
}

std::string tail(const std::string& s, std::size_t n = 400) {
  auto t = s.size() > n ? s.substr(s.size() - n) : s;
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back())))
    t.pop_back();
  std::replace(t.begin(), t.end(), '\n', ' ');
  std::replace(t.begin(), t.end(), '\r', ' ');
  return t;
}

// Maps what the target printed before it went away to a typed cause.
stage1_result classify(const std::string& text, const std::string& who,
                       const std::vector<std::string>& failures) {
  auto l = to_lower(text);
  auto has = [&](const char* s) { return l.find(s) != std::string::npos; };
  stage1_result r;
  r.reason = text.empty() ? "the target closed the stream before stage-1 answered"
                          : "the target closed the stream: " + tail(text);
  if (has("incorrect password") || has("sorry, try again") || has("authentication failure")
      || has("authentication failed") || has("permission denied (publickey")
      || contains_any(l, failures)) {
    r.code = errc::auth_failed;
    r.reason = (who.empty() ? "" : who + ": ") + "wrong password (" + tail(text) + ")";
  } else if (has("not in the sudoers") || has("is not allowed") || has("may not run")
             || has("operation not permitted") || has("not permitted")
             || has("unknown user") || has("does not exist")) {
    r.code = errc::become_denied;
    r.reason = (who.empty() ? "" : who + ": ") + "not allowed (" + tail(text) + ")";
  } else if ((has("/bin/sh") && (has("not found") || has("no such file")))) {
    r.code = errc::bootstrap_failed;
    r.reason = "stage-1 found no /bin/sh on the target (" + tail(text) + ")";
  } else {
    r.code = errc::bootstrap_failed;
  }
  return r;
}

bool send_file(int wfd, const bundle& b, clock::time_point deadline, std::string& err) {
  int fd = ::open(b.archive.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = "cannot read bundle " + b.archive + ": " + std::strerror(errno);
    return false;
  }
  std::vector<char> buf(256 * 1024);
  std::uint64_t sent = 0;
  bool ok = true;
  while (ok && sent < b.size) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) {
      err = "bundle " + b.archive + " shrank while sending";
      ok = false;
      break;
    }
    const char* p = buf.data();
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      pollfd pfd{wfd, POLLOUT, 0};
      int rc = ::poll(&pfd, 1, ms_left(deadline));
      if (rc == 0) {
        err = "timed out sending the bundle (" + std::to_string(sent) + " of "
              + std::to_string(b.size) + " bytes sent)";
        ok = false;
        break;
      }
      if (rc < 0 && errno == EINTR)
        continue;
      auto w = ::write(wfd, p, left);
      if (w < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (w <= 0) {
        err = std::string{"the target stopped reading the bundle: "} + std::strerror(errno);
        ok = false;
        break;
      }
      p += w;
      left -= static_cast<std::size_t>(w);
      sent += static_cast<std::uint64_t>(w);
    }
  }
  ::close(fd);
  return ok;
}

// After a failed upload: ends our side of the stream (the script then sees
// a short bundle) and returns what the script said last (an MXERR line,
// without the prefix), or "". The script removes its temporary files
// before it answers, so a caller that kills the target after this leaves
// nothing half-installed. Waits at most a couple of seconds.
std::string last_word(int rfd, int wfd) {
  ::shutdown(wfd, SHUT_WR); // a pty or pipe: no effect, the script may still answer
  auto until = clock::now() + std::chrono::seconds{2};
  std::string text;
  for (;;) {
    for (std::size_t nl; (nl = text.find('\n')) != std::string::npos; text.erase(0, nl + 1))
      if (text.rfind("MXERR ", 0) == 0) {
        auto said = text.substr(6, nl - 6);
        if (!said.empty() && said.back() == '\r')
          said.pop_back();
        return said;
      }
    if (text.size() > 8192)
      text.clear();
    pollfd pfd{rfd, POLLIN, 0};
    int rc = ::poll(&pfd, 1, ms_left(until));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return {};
    char buf[512];
    auto n = ::read(rfd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      return {};
    text.append(buf, static_cast<std::size_t>(n));
  }
}

} // namespace

stage1_result run_stage1(int rfd, int wfd, const bundle& b, const prompt_answerer& prompts,
                         clock::time_point deadline,
                         const std::function<std::string()>& more_stderr) {
  int old_flags = ::fcntl(wfd, F_GETFL);
  ::fcntl(wfd, F_SETFL, old_flags | O_NONBLOCK);
  struct restore {
    int fd, flags;
    ~restore() {
      ::fcntl(fd, F_SETFL, flags);
    }
  } restore_flags{wfd, old_flags};

  stage1_result res;
  std::string line, tty, seen;
  int answers = 0;
  bool prompts_on_stream = prompts.fd < 0 && !prompts.who.empty();
  auto answer = [&](std::string& buf, int fd) -> bool {
    if (!is_prompt(buf, prompts.prompts))
      return true;
    if (prompts.password.empty()) {
      res.code = errc::auth_failed;
      res.reason = prompts.who + " asked for a password and none was given (" + tail(buf) + ")";
      return false;
    }
    if (answers > 0) {
      res.code = errc::auth_failed;
      res.reason = prompts.who + ": wrong password (asked again: " + tail(buf) + ")";
      return false;
    }
    ++answers;
    auto pw = prompts.password + "\n";
    if (!router::write_fully(fd, pw.data(), pw.size())) {
      res.code = errc::bootstrap_failed;
      res.reason = prompts.who + ": cannot answer the password prompt";
      return false;
    }
    seen += buf;
    buf.clear();
    return true;
  };
  auto fail_closed = [&] {
    auto text = seen + tty + line + (more_stderr ? more_stderr() : std::string{});
    res = classify(text, prompts.who, prompts.failures);
    return res;
  };
  for (;;) {
    int wait = ms_left(deadline);
    if (wait == 0) {
      res.code = errc::timeout;
      auto text = tail(seen + tty + line + (more_stderr ? more_stderr() : std::string{}));
      res.reason = "no answer from stage-1 in time"
                   + (text.empty() ? std::string{} : " (target said: " + text + ")");
      return res;
    }
    pollfd pfd[2] = {{rfd, POLLIN, 0}, {prompts.fd, POLLIN, 0}};
    int rc = ::poll(pfd, prompts.fd >= 0 ? 2 : 1, wait);
    if (rc < 0 && errno != EINTR) {
      res.code = errc::bootstrap_failed;
      res.reason = std::string{"poll: "} + std::strerror(errno);
      return res;
    }
    if (rc <= 0)
      continue;
    if (prompts.fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[512];
      auto n = ::read(prompts.fd, buf, sizeof(buf));
      if (n > 0) {
        tty.append(buf, static_cast<std::size_t>(n));
        if (!answer(tty, prompts.fd))
          return res;
      } else if (!(pfd[0].revents & POLLIN)) {
        // The tty closed (the become program exited); the stream tells why.
        pfd[0].revents |= POLLHUP;
      }
    }
    if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    // One byte at a time: the agent's hello follows MXOK and is not ours.
    char c = 0;
    auto n = ::read(rfd, &c, 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0) {
      if (prompts.fd >= 0) {
        char buf[512];
        ssize_t m;
        while ((m = ::read(prompts.fd, buf, sizeof(buf))) > 0)
          tty.append(buf, static_cast<std::size_t>(m));
      }
      return fail_closed();
    }
    if (c != '\n') {
      if (line.size() < 4096)
        line += c;
      if (prompts_on_stream && !answer(line, wfd))
        return res;
      continue;
    }
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line == "MXOK")
      return res;
    if (line == "MXNEED") {
      std::string err;
      if (!send_file(wfd, b, deadline, err)) {
        res.code = errc::bootstrap_failed;
        // The script knows better why (disk full, short bundle).
        auto said = last_word(rfd, wfd);
        res.reason = said.empty() ? err : "stage-1: " + said + " (" + err + ")";
        return res;
      }
      res.installed = true;
    } else if (line.rfind("MXERR ", 0) == 0) {
      res.code = errc::bootstrap_failed;
      res.reason = "stage-1: " + line.substr(6);
      return res;
    } else {
      seen += line + "\n";
      if (seen.size() > 8192)
        seen.erase(0, seen.size() - 4096);
    }
    line.clear();
  }
}

} // namespace mitosis::bootstrap
