// The ssh_config(5) parser (see ssh_config.hpp): words, patterns, Host and
// Match blocks, Include.
#include "ssh_config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <glob.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>

namespace mitosis::bootstrap {

std::string ssh_detail::lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ssh_detail::home_dir() {
  const char* h = std::getenv("HOME");
  return h && *h ? h : "/";
}

namespace {

using ssh_detail::home_dir;
using ssh_detail::lower;

bool accumulates(const std::string& key) {
  return key == "identityfile" || key == "certificatefile" || key == "sendenv" || key == "setenv"
         || key == "localforward" || key == "remoteforward" || key == "dynamicforward";
}

// "a, b c" -> {"a", "b", "c"}: Match criteria and Host lists take both.
std::vector<std::string> split_list(const std::vector<std::string>& words, std::size_t from) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < words.size(); ++i) {
    std::string cur;
    for (char c : words[i]) {
      if (c == ',') {
        if (!cur.empty())
          out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty())
      out.push_back(cur);
  }
  return out;
}

// A Match line: criteria all, host, originalhost (negation with "!");
// anything else does not apply.
bool match_applies(const std::vector<std::string>& w, const std::string& host,
                   const ssh_config_values& so_far) {
  const auto* hn = so_far.get("hostname");
  std::string target = hn ? *hn : host;
  for (std::size_t i = 1; i < w.size(); ++i) {
    auto crit = lower(w[i]);
    bool negate = !crit.empty() && crit[0] == '!';
    if (negate)
      crit.erase(0, 1);
    if (crit == "all") {
      if (negate)
        return false;
      continue;
    }
    if ((crit != "host" && crit != "originalhost") || i + 1 >= w.size())
      return false;
    auto pats = split_list({w[i + 1]}, 0);
    ++i;
    bool m = ssh_host_matches(pats, crit == "host" ? target : host);
    if (m == negate)
      return false;
  }
  return true;
}

std::string expand_home(const std::string& p) {
  if (p == "~")
    return home_dir();
  if (p.rfind("~/", 0) == 0)
    return home_dir() + p.substr(1);
  return p;
}

} // namespace

const std::string* ssh_config_values::get(const std::string& key) const {
  auto it = values.find(key);
  return it == values.end() || it->second.empty() ? nullptr : &it->second.front();
}

void ssh_config_values::add(const std::string& key, const std::string& value) {
  auto& v = values[key];
  if (v.empty() || accumulates(key))
    v.push_back(value);
}

bool ssh_pattern_match(const std::string& pat, const std::string& host) {
  // Iterative glob with backtracking on the last '*'; case-insensitive as
  // OpenSSH's host matching.
  std::size_t p = 0, h = 0, star = std::string::npos, mark = 0;
  auto eq = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  while (h < host.size()) {
    if (p < pat.size() && (pat[p] == '?' || (pat[p] != '*' && eq(pat[p], host[h])))) {
      ++p;
      ++h;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = h;
    } else if (star != std::string::npos) {
      p = star + 1;
      h = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*')
    ++p;
  return p == pat.size();
}

bool ssh_host_matches(const std::vector<std::string>& patterns, const std::string& host) {
  bool any = false;
  for (const auto& pat : patterns) {
    if (!pat.empty() && pat[0] == '!') {
      if (ssh_pattern_match(pat.substr(1), host))
        return false;
    } else if (ssh_pattern_match(pat, host)) {
      any = true;
    }
  }
  return any;
}

std::vector<std::string> ssh_config_words(const std::string& line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (i < line.size() && blank(line[i]))
    ++i;
  if (i >= line.size() || line[i] == '#')
    return out;
  // The keyword ends at a blank or '='; one '=' (with blanks) may follow.
  std::size_t k = i;
  while (k < line.size() && !blank(line[k]) && line[k] != '=')
    ++k;
  out.push_back(line.substr(i, k - i));
  i = k;
  while (i < line.size() && blank(line[i]))
    ++i;
  if (i < line.size() && line[i] == '=')
    ++i;
  for (;;) {
    while (i < line.size() && blank(line[i]))
      ++i;
    if (i >= line.size() || line[i] == '#')
      break;
    std::string w;
    if (line[i] == '"') {
      auto end = line.find('"', i + 1);
      if (end == std::string::npos)
        throw std::runtime_error("unterminated quote");
      w = line.substr(i + 1, end - i - 1);
      i = end + 1;
    } else {
      while (i < line.size() && !blank(line[i]))
        w += line[i++];
    }
    out.push_back(std::move(w));
  }
  return out;
}

void parse_ssh_config(const std::string& text, const std::string& origin, const std::string& host,
                      ssh_config_values& into, int depth) {
  if (depth > 16)
    throw std::runtime_error(origin + ": Include nested too deep");
  std::istringstream in{text};
  std::string line;
  int n = 0;
  bool active = true; // before any Host line, everything applies
  while (std::getline(in, line)) {
    ++n;
    auto where = [&] { return origin + " line " + std::to_string(n); };
    std::vector<std::string> w;
    try {
      w = ssh_config_words(line);
    } catch (const std::exception& e) {
      throw std::runtime_error(where() + ": " + e.what());
    }
    if (w.empty())
      continue;
    auto key = lower(w[0]);
    if (key == "host") {
      if (w.size() < 2)
        throw std::runtime_error(where() + ": Host without a pattern");
      active = ssh_host_matches(split_list(w, 1), host);
      continue;
    }
    if (key == "match") {
      if (w.size() < 2)
        throw std::runtime_error(where() + ": Match without a criterion");
      active = match_applies(w, host, into);
      continue;
    }
    if (!active)
      continue;
    if (key == "include") {
      for (std::size_t i = 1; i < w.size(); ++i) {
        auto pat = expand_home(w[i]);
        if (pat.empty() || pat[0] != '/')
          pat = home_dir() + "/.ssh/" + pat;
        glob_t g{};
        if (::glob(pat.c_str(), 0, nullptr, &g) == 0) {
          std::vector<std::string> files(g.gl_pathv, g.gl_pathv + g.gl_pathc);
          ::globfree(&g);
          for (const auto& f : files)
            read_ssh_config(f, host, into, false, depth + 1);
        } else {
          ::globfree(&g);
        }
      }
      continue;
    }
    if (w.size() < 2)
      throw std::runtime_error(where() + ": " + w[0] + " without a value");
    std::string value = w[1];
    for (std::size_t i = 2; i < w.size(); ++i)
      value += " " + w[i];
    into.add(key, value);
  }
}

void read_ssh_config(const std::string& path, const std::string& host, ssh_config_values& into,
                     bool required, int depth) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (required)
      throw std::runtime_error("cannot read ssh config " + path + ": no such file");
    return;
  }
  if (S_ISDIR(st.st_mode))
    throw std::runtime_error("ssh config " + path + " is a directory");
  std::ifstream f{path};
  if (!f)
    throw std::runtime_error("cannot read ssh config " + path);
  std::ostringstream text;
  text << f.rdbuf();
  parse_ssh_config(text.str(), path, host, into, depth);
}

} // namespace mitosis::bootstrap
