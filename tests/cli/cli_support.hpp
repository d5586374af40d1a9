#pragma once
// Running the moekit executable as a user does, for the CLI tests.

#include "support/temp_file.hpp"

#include <sys/wait.h>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace moekit::testing {

struct Run {
  int status = -1;  // the exit status; -1 when the process was killed by a signal
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command line with standard input from `stdin_path`, capturing stdout and
// stderr.
inline Run run_shell(const std::string& command, const std::string& stdin_path = "/dev/null") {
  TempFile out("", ".out"), err("", ".err");
  const std::string cmd = command + " <" + stdin_path + " >" + out.path() + " 2>" + err.path();
  const int raw = std::system(cmd.c_str());
  Run r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out.path());
  r.err = slurp(err.path());
  return r;
}

// Runs `moekit ARGS` through the shell with standard input from `stdin_path`, capturing
// stdout and stderr.
inline Run run_cli_with_stdin_file(const std::string& args, const std::string& stdin_path) {
  return run_shell(std::string(MOEKIT_CLI) + " " + args, stdin_path);
}

// Runs `moekit ARGS` with `stdin_text` on standard input.
inline Run run_cli(const std::string& args, const std::string& stdin_text = "") {
  TempFile in(stdin_text, ".in");
  return run_cli_with_stdin_file(args, in.path());
}

}  // namespace moekit::testing
