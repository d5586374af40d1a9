#pragma once
// Runs the moekit command line as a user would (through the shell), capturing its exit
// status, stdout and stderr. MOEKIT_CLI is the executable's path.

#include "support/temp_file.hpp"

#include <sys/wait.h>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace moekit::testing {

struct CliRun {
  int status = -1;
  std::string out, err;
};

inline std::string slurp_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline CliRun run_moekit(const std::string& args, const std::string& stdin_text = "") {
  TempFile out("", ".out"), err("", ".err"), in(stdin_text, ".in");
  const std::string cmd = std::string(MOEKIT_CLI) + " " + args + " <" + in.path() + " >" +
                          out.path() + " 2>" + err.path();
  const int raw = std::system(cmd.c_str());
  CliRun r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp_file(out.path());
  r.err = slurp_file(err.path());
  return r;
}

}  // namespace moekit::testing
