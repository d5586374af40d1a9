// Output files (issue 24): what write_file_atomically does to each kind of path, and the
// temporary file on a signal.

#include "moekit/core/error.hpp"
#include "moekit/core/output_file.hpp"

#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace moekit;
using Catch::Matchers::Contains;

namespace {

// A fresh folder, removed with what is in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/moekit-out-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    for (const auto& n : entries()) ::unlink((path_ + "/" + n).c_str());
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (const dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
          out.emplace_back(e->d_name);
      ::closedir(d);
    }
    return out;
  }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

class Umask {
 public:
  explicit Umask(mode_t m) : old_(::umask(m)) {}
  ~Umask() { ::umask(old_); }

 private:
  mode_t old_;
};

}  // namespace

TEST_CASE("a new file honours the umask; a replaced one keeps its mode", "[output]") {
  TempDir dir;
  {
    Umask u(027);
    write_file_atomically(dir / "new.json", "{}\n");
  }
  CHECK(slurp(dir / "new.json") == "{}\n");
  CHECK(mode_of(dir / "new.json") == 0640);  // mkstemp's 0600 before
  {
    Umask u(022);
    write_file_atomically(dir / "new2.json", "x");
  }
  CHECK(mode_of(dir / "new2.json") == 0644);

  ::chmod((dir / "new.json").c_str(), 0664);
  {
    Umask u(077);
    write_file_atomically(dir / "new.json", "second");
  }
  CHECK(slurp(dir / "new.json") == "second");
  CHECK(mode_of(dir / "new.json") == 0664);
  CHECK(dir.entries().size() == 2);  // no temporary file left
}

TEST_CASE("a replaced file keeps its owner and group (as root)", "[output]") {
  if (::geteuid() != 0) return;  // only root may give a file to another user
  TempDir dir;
  write_file_atomically(dir / "owned", "a");
  REQUIRE(::chown((dir / "owned").c_str(), 1, 1) == 0);
  write_file_atomically(dir / "owned", "b");
  struct stat st {};
  ::stat((dir / "owned").c_str(), &st);
  CHECK(st.st_uid == 1u);
  CHECK(st.st_gid == 1u);
}

TEST_CASE("a symbolic link stays a link; its target is replaced", "[output]") {
  TempDir dir;
  write_file_atomically(dir / "target", "old");
  ::chmod((dir / "target").c_str(), 0640);
  REQUIRE(::symlink("target", (dir / "link").c_str()) == 0);
  REQUIRE(::symlink("link", (dir / "link2").c_str()) == 0);  // a chain
  write_file_atomically(dir / "link2", "new");
  struct stat st {};
  REQUIRE(::lstat((dir / "link").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  REQUIRE(::lstat((dir / "link2").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(slurp(dir / "target") == "new");
  CHECK(mode_of(dir / "target") == 0640);

  // A dangling link: the file is created where it points.
  REQUIRE(::symlink("later", (dir / "dangling").c_str()) == 0);
  write_file_atomically(dir / "dangling", "made");
  REQUIRE(::lstat((dir / "dangling").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(slurp(dir / "later") == "made");

  // A loop of links is an error, not a hang.
  REQUIRE(::symlink("loop2", (dir / "loop1").c_str()) == 0);
  REQUIRE(::symlink("loop1", (dir / "loop2").c_str()) == 0);
  CHECK_THROWS_WITH(write_file_atomically(dir / "loop1", "x"), Contains("symbolic links"));
}

TEST_CASE("a FIFO and a character device are written through", "[output]") {
  TempDir dir;
  const std::string fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A reader first, so that opening for writing does not wait.
  const int r = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(r >= 0);
  write_file_atomically(fifo, "through the pipe\n");
  char buf[64] = {};
  const ssize_t got = ::read(r, buf, sizeof buf - 1);
  ::close(r);
  CHECK(std::string(buf, got > 0 ? static_cast<size_t>(got) : 0) == "through the pipe\n");
  struct stat st {};
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));  // not turned into a regular 0600 file

  // A pseudo-terminal is a character device anyone may open (unlike /dev/null, which a
  // failing test run as root would destroy).
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const std::string slave = ::ptsname(master);
  write_file_atomically(slave, "tty");
  pollfd p{master, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 2000) == 1);
  char tty[16] = {};
  CHECK(::read(master, tty, sizeof tty - 1) == 3);
  CHECK(std::string(tty) == "tty");
  REQUIRE(::stat(slave.c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  ::close(master);
}

TEST_CASE("a folder or a socket is refused with a message", "[output][errors]") {
  TempDir dir;
  CHECK_THROWS_WITH(write_file_atomically(dir.path(), "x"), Contains("is a directory"));
  CHECK_THROWS_WITH(check_output_path(dir.path()), Contains("is a directory"));
  const std::string sock = dir / "sock";
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  CHECK_THROWS_WITH(write_file_atomically(sock, "x"), Contains("is a socket"));
  ::close(s);
  CHECK_THROWS_WITH(write_file_atomically(dir / "no/such/folder/f", "x"),
                    Contains("cannot create a file there"));
}

TEST_CASE("an unfinished output leaves no temporary file, even on a signal", "[output]") {
  TempDir dir;
  {
    OutputFile out(dir / "f");
    out.write("half");
    CHECK(dir.entries().size() == 1);  // the temporary file
  }                                    // no commit: removed
  CHECK(dir.entries().empty());

  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // Catch2 handles SIGINT and SIGTERM itself; the CLI leaves them at their defaults.
      for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
      OutputFile out(dir / "f");
      out.write("half");
      ::raise(sig);
      ::_exit(3);  // not reached: the signal ends the process
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == sig);
    CHECK(dir.entries().empty());
  }
  // The handlers are installed only while an output is open, and only over default actions:
  // an application's own handler (here Catch2's for SIGTERM) is left alone.
  struct sigaction before {
  }, during{}, term_before{}, term_during{}, after{};
  ::sigaction(SIGHUP, nullptr, &before);
  ::sigaction(SIGTERM, nullptr, &term_before);
  REQUIRE(before.sa_handler == SIG_DFL);
  {
    OutputFile out(dir / "f");
    ::sigaction(SIGHUP, nullptr, &during);
    ::sigaction(SIGTERM, nullptr, &term_during);
  }
  ::sigaction(SIGHUP, nullptr, &after);
  CHECK(during.sa_handler != SIG_DFL);
  CHECK(term_during.sa_handler == term_before.sa_handler);
  CHECK(after.sa_handler == SIG_DFL);
}
