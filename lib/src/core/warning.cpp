#include "moekit/core/warning.hpp"

#include <utility>

namespace moekit {

namespace {
WarningHandler& handler() {
  static WarningHandler h;
  return h;
}
}  // namespace

WarningHandler set_warning_handler(WarningHandler h) {
  return std::exchange(handler(), std::move(h));
}

void warn(const std::string& message) {
  if (const WarningHandler& h = handler()) h(message);
}

}  // namespace moekit
