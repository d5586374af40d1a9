#pragma once
// The library's exceptions. The library never prints or exits; apps/moekit/main.cpp maps
// InputError to exit status 1 and NumericalError to exit status 2.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace moekit {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Text from the input (a cell, a column name) as a message quotes it: whole when short, else
// its first `max` bytes (cut between UTF-8 characters) and "... (N bytes)", so that a 10 MB
// cell does not become a 10 MB message.
std::string excerpt(std::string_view text, std::size_t max = 64);

// Where bad input was found: a file position or the option at fault.
struct SourceLocation {
  SourceLocation(std::string file_ = {},
                 std::int64_t line_ = 0,
                 std::int64_t column_ = 0,
                 std::string column_name_ = {})
      : file(std::move(file_)),
        line(line_),
        column(column_),
        column_name(std::move(column_name_)) {}
  std::string file;         // "-" for stdin, empty when not from a file
  std::int64_t line = 0;    // 1-based physical line, 0 when unknown
  std::int64_t column = 0;  // 1-based field number, 0 when unknown
  std::string column_name;  // header name of the field, when known
};

class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(message) {}
  // "data.csv:12: column 3 ('x'): <message>"
  InputError(const SourceLocation& where, const std::string& message);
  // "invalid option --tol = -1: must be finite and > 0"
  static InputError option(const std::string& flag,
                           const std::string& value,
                           const std::string& rule);
};

// A model file that cannot be read: wrong format, version or content.
class ModelFormatError : public InputError {
 public:
  using InputError::InputError;
};

// Numerical trouble that could not be recovered from (after re-seeding and regularising).
class NumericalError : public Error {
 public:
  explicit NumericalError(const std::string& message) : Error(message) {}
  NumericalError(const std::string& component, int iteration, const std::string& message);
};

}  // namespace moekit
