#include "moekit/core/output_file.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace moekit {

namespace {

// ---- What the path names ---------------------------------------------------------------

enum class TargetKind { New, Regular, Through };

struct Target {
  TargetKind kind = TargetKind::New;
  std::string path;  // final name after symbolic links
  struct stat st {};
};

struct ProtectedInput {
  bool active = false;
  dev_t dev = 0;
  ino_t ino = 0;
};
ProtectedInput g_stdin;

std::string parent_of(const std::string& p) {
  const auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(fmt::format("{}: {}", path, what));
}

// A path that does not exist (yet): follow a chain of dangling symbolic links to the name
// the new file gets, as open(O_CREAT) would.
std::string follow_dangling(const std::string& path) {
  std::string p = path;
  for (int hop = 0; hop < 40; ++hop) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 2);
    const ssize_t got = ::readlink(p.c_str(), buf.data(), buf.size() - 1);
    if (got < 0) fail(path, fmt::format("cannot read the symbolic link: {}", std::strerror(errno)));
    std::string link(buf.data(), static_cast<size_t>(got));
    p = !link.empty() && link[0] == '/' ? link : parent_of(p) + "/" + link;
  }
  fail(path, "too many levels of symbolic links");
}

Target classify(const std::string& path) {
  if (path.empty()) throw InputError("--out: empty file name");
  Target t;
  if (::stat(path.c_str(), &t.st) != 0) {
    if (errno != ENOENT) fail(path, fmt::format("cannot write there: {}", std::strerror(errno)));
    t.kind = TargetKind::New;
    t.path = follow_dangling(path);
    return t;
  }
  const mode_t m = t.st.st_mode;
  if (S_ISREG(m)) {
    if (g_stdin.active && t.st.st_dev == g_stdin.dev && t.st.st_ino == g_stdin.ino)
      fail(path, "refusing to overwrite the file this command reads as standard input");
    t.kind = TargetKind::Regular;
    // The file that gets replaced is the link's final target, so that the link survives.
    char* real = ::realpath(path.c_str(), nullptr);
    t.path = real ? std::string(real) : path;
    std::free(real);
    return t;
  }
  if (S_ISCHR(m) || S_ISFIFO(m)) {
    t.kind = TargetKind::Through;
    t.path = path;
    return t;
  }
  if (S_ISDIR(m)) fail(path, "is a directory; give a file name");
  const char* what = S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a plain file";
  fail(path, fmt::format("is {}; outputs go to regular files, character devices (such as "
                         "/dev/null) and FIFOs",
                         what));
}

// ---- Temporary files removed on SIGINT, SIGTERM, SIGHUP --------------------------------

constexpr int kSlots = 16;
std::array<std::atomic<const char*>, kSlots> g_slots{};
constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};
std::mutex g_mutex;
int g_registered = 0;
std::array<bool, kSignals.size()> g_installed{};
std::array<struct sigaction, kSignals.size()> g_previous{};

extern "C" void remove_temporaries_and_reraise(int sig) {
  for (auto& s : g_slots)
    if (const char* p = s.load()) ::unlink(p);
  // SA_RESETHAND has restored the default action: raising again ends the process as the
  // signal would have without us.
  ::raise(sig);
}

int register_temporary(const char* path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  int slot = -1;
  for (int i = 0; i < kSlots && slot < 0; ++i) {
    const char* expected = nullptr;
    if (g_slots[static_cast<size_t>(i)].compare_exchange_strong(expected, path)) slot = i;
  }
  if (slot < 0) return -1;  // more than kSlots outputs at once: no clean-up for this one
  if (g_registered++ == 0) {
    for (size_t i = 0; i < kSignals.size(); ++i) {
      struct sigaction old {};
      if (::sigaction(kSignals[i], nullptr, &old) != 0) continue;
      // Only where the signal would end the process anyway: an ignored SIGHUP (nohup) or the
      // application's own handler are left alone.
      const bool default_action = !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
      if (!default_action) continue;
      struct sigaction ours {};
      ours.sa_handler = remove_temporaries_and_reraise;
      sigemptyset(&ours.sa_mask);
      ours.sa_flags = SA_RESETHAND;
      if (::sigaction(kSignals[i], &ours, &g_previous[i]) == 0) g_installed[i] = true;
    }
  }
  return slot;
}

void unregister_temporary(int slot) {
  if (slot < 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_slots[static_cast<size_t>(slot)].store(nullptr);
  if (--g_registered == 0)
    for (size_t i = 0; i < kSignals.size(); ++i)
      if (g_installed[i]) {
        ::sigaction(kSignals[i], &g_previous[i], nullptr);
        g_installed[i] = false;
      }
}

// A name beside `target` that does not exist yet, opened with O_EXCL. Mode 0666 lets the
// umask (and a default ACL) decide, as for any new file.
int create_temporary(const std::string& target, const std::string& path, std::string& name) {
  static std::atomic<unsigned> counter{0};
  std::uint64_t x =
      static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ULL ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (static_cast<std::uint64_t>(counter++) << 32);
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string suffix;
    for (int i = 0; i < 6; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      suffix += kChars[x % (sizeof kChars - 1)];
    }
    name = target + ".tmp-" + suffix;
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST)
      fail(path, fmt::format("cannot create a file there: {}", std::strerror(errno)));
  }
  fail(path, "cannot create a temporary file beside it (every name tried exists)");
}

}  // namespace

void protect_standard_input() {
  struct stat st {};
  if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
    g_stdin.active = true;
    g_stdin.dev = st.st_dev;
    g_stdin.ino = st.st_ino;
  }
}

void check_output_path(const std::string& path) { classify(path); }

OutputFile::OutputFile(const std::string& path) : path_(path) {
  const Target t = classify(path);
  target_ = t.path;
  if (t.kind == TargetKind::Through) {
    through_ = true;
    temporary_ = t.path;
    fd_ = ::open(t.path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0) fail(path, fmt::format("cannot open for writing: {}", std::strerror(errno)));
    return;
  }
  fd_ = create_temporary(target_, path_, temporary_);
  slot_ = register_temporary(temporary_.c_str());
  if (t.kind == TargetKind::Regular) {
    // The replacement keeps the old file's owner and group where this process may set them
    // (chown first: it clears set-id bits), then its mode.
    // Without the right to give the file away it becomes this user's (as with cp); the group
    // is kept where this user belongs to it.
    struct stat mine {};
    const bool same_owner =
        ::fstat(fd_, &mine) == 0 && mine.st_uid == t.st.st_uid && mine.st_gid == t.st.st_gid;
    if (!same_owner && ::fchown(fd_, t.st.st_uid, t.st.st_gid) != 0 &&
        ::fchown(fd_, static_cast<uid_t>(-1), t.st.st_gid) != 0) {
      // Nothing more to try.
    }
    if (::fchmod(fd_, t.st.st_mode & 07777) != 0) {
      const int err = errno;
      abandon();
      fail(path, fmt::format("cannot keep the file's mode: {}", std::strerror(err)));
    }
  }
}

OutputFile::~OutputFile() {
  if (!committed_) abandon();
}

void OutputFile::abandon() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!through_ && !temporary_.empty()) ::unlink(temporary_.c_str());
  unregister_temporary(slot_);
  slot_ = -1;
}

void OutputFile::write(std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(fd_, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path_, fmt::format("write failed: {}", std::strerror(errno)));
    }
    done += static_cast<size_t>(w);
  }
}

void OutputFile::commit() {
  if (through_) {
    const int fd = fd_;
    fd_ = -1;
    committed_ = true;
    if (::close(fd) != 0) fail(path_, fmt::format("write failed: {}", std::strerror(errno)));
    return;
  }
  if (::fsync(fd_) != 0) fail(path_, fmt::format("write failed: {}", std::strerror(errno)));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(path_, fmt::format("write failed: {}", std::strerror(errno)));
  if (std::rename(temporary_.c_str(), target_.c_str()) != 0)
    fail(path_, fmt::format("cannot replace the file: {}", std::strerror(errno)));
  committed_ = true;
  unregister_temporary(slot_);
  slot_ = -1;
  // The rename is durable once the folder is flushed too; a failure here loses nothing.
  const int dir = ::open(parent_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  OutputFile out(path);
  out.write(content);
  out.commit();
}

}  // namespace moekit
