// A fresh directory under /tmp for one test, removed with everything in it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

struct temp_dir {
  std::string path;

  explicit temp_dir(const std::string& prefix = "/tmp/mitosis-test-") {
    std::string tmpl = prefix + "XXXXXX";
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Creates an empty file `name` in the directory and returns its path.
  std::string file(const std::string& name) const {
    auto p = path + "/" + name;
    std::ofstream{p}.close();
    return p;
  }
};
