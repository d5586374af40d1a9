#pragma once
// Reading a whole input file (a CSV, a model) into memory, with messages that say what went
// wrong: a missing or unreadable file, a folder given where a file was meant.

#include <string>

namespace moekit {

// The bytes of `path`; "-" reads standard input. `what` names the input in messages ("data
// file", "model file"). InputError naming the path when it cannot be read.
std::string read_input_file(const std::string& path, const std::string& what);

}  // namespace moekit
