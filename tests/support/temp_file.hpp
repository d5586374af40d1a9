#pragma once
// Temporary files for tests, removed when the object goes out of scope.

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <string>

namespace moekit::testing {

class TempFile {
 public:
  explicit TempFile(const std::string& content, const std::string& suffix = ".csv") {
    char tmpl[] = "/tmp/moekit-test-XXXXXX";
    const int fd = mkstemp(tmpl);
    ::close(fd);
    std::remove(tmpl);
    path_ = std::string(tmpl) + suffix;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace moekit::testing
