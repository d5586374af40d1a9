#pragma once
// Writing an output file without destroying what the path named before. What happens
// depends on what the path is when the write starts:
//
//   nothing yet          a new regular file, created with mode 0666 less the umask (and the
//                        folder's default ACL), as any program's output;
//   a regular file       replaced atomically: written to a temporary file in the same folder,
//                        flushed, then renamed over it, so a reader sees the old or the new
//                        content, never half of it. The new file keeps the old one's mode,
//                        and its owner and group where the process may set them (root, or the
//                        owner itself); other hard links to the old file keep the old content;
//   a symbolic link      followed (a chain of them too): its final target is written as above
//                        and the link stays a link;
//   a character device   written through, in place: /dev/null stays /dev/null, /dev/stdout on
//   or a FIFO            a terminal or a pipe writes there;
//   anything else        (a folder, a socket, a block device) refused with an InputError.
//
// SIGINT, SIGTERM and SIGHUP while a temporary file exists remove it, then take their usual
// course (where the program left their default action in place).

#include <string>
#include <string_view>

namespace moekit {

// Writes `content` to `path` as described above. InputError naming the path when it cannot.
void write_file_atomically(const std::string& path, const std::string& content);

// Throws the InputError that write_file_atomically would throw before writing anything
// (a folder, a socket, a block device, a loop of links, the protected standard input), so
// that a command can refuse a bad --out before it does its work.
void check_output_path(const std::string& path);

// Called once by an application whose inputs may come on standard input ('-'): from then on,
// when standard input is a regular file, an output naming that same file (device and inode,
// whatever the path or link) is refused instead of replacing the data being read.
void protect_standard_input();

// One output being written: the temporary file (or the device or FIFO opened for writing)
// exists from construction; commit() makes it the file at `path`; destruction without
// commit() removes the temporary file. write_file_atomically is construct, write, commit.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::string_view data);
  void commit();
  // The file written until commit(): the temporary file, or the target itself when it is a
  // character device or a FIFO (written through).
  const std::string& temporary_path() const { return temporary_; }

 private:
  void abandon() noexcept;
  std::string path_;       // as the user gave it, for messages
  std::string target_;     // after following symbolic links
  std::string temporary_;  // what is being written
  int fd_ = -1;
  int slot_ = -1;  // place in the signal handler's list of temporary files, -1 when none
  bool through_ = false;
  bool committed_ = false;
};

}  // namespace moekit
