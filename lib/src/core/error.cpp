#include "moekit/core/error.hpp"

#include <fmt/format.h>

namespace moekit {

std::string excerpt(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  // Back up over UTF-8 continuation bytes (10xxxxxx) to the start of a character.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}... ({} bytes)", text.substr(0, cut), text.size());
}

namespace {
std::string locate(const SourceLocation& w, const std::string& message) {
  std::string s = w.file.empty() ? std::string() : (w.file == "-" ? "<stdin>" : w.file);
  if (w.line > 0) s += fmt::format("{}line {}", s.empty() ? "" : ":", w.line);
  if (w.column > 0 || !w.column_name.empty()) {
    s += s.empty() ? "" : ", ";
    if (w.column > 0) s += fmt::format("column {}", w.column);
    if (!w.column_name.empty())
      s += w.column > 0 ? fmt::format(" ('{}')", excerpt(w.column_name))
                        : fmt::format("column '{}'", excerpt(w.column_name));
  }
  return s.empty() ? message : s + ": " + message;
}
}  // namespace

InputError::InputError(const SourceLocation& where, const std::string& message)
    : Error(locate(where, message)) {}

InputError InputError::option(const std::string& flag,
                              const std::string& value,
                              const std::string& rule) {
  return InputError(fmt::format("invalid option {} = {}: {}", flag, value, rule));
}

NumericalError::NumericalError(const std::string& component,
                               int iteration,
                               const std::string& message)
    : Error(fmt::format("{} (iteration {}): {}", component, iteration, message)) {}

}  // namespace moekit
