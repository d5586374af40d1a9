#include "moekit/core/input_file.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace moekit {

std::string read_input_file(const std::string& path, const std::string& what) {
  const bool stdin_input = path == "-";
  const int fd = stdin_input ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw InputError(SourceLocation{path},
                     fmt::format("cannot open {}: {}", what, std::strerror(errno)));
  // Linux opens a folder for reading and fails only at read() with EISDIR: say so up front.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (!stdin_input) ::close(fd);
    throw InputError(SourceLocation{path},
                     fmt::format("is a directory, not a {}; give a file name", what));
  }
  std::string text;
  if (S_ISREG(st.st_mode) && st.st_size > 0) text.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      if (!stdin_input) ::close(fd);
      throw InputError(SourceLocation{path},
                       fmt::format("cannot read {}: {}", what, std::strerror(err)));
    }
    text.append(buf, static_cast<size_t>(got));
  }
  if (!stdin_input) ::close(fd);
  return text;
}

}  // namespace moekit
