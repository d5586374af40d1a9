#pragma once
// Warnings about input the library accepted but had to interpret: a text column left out of
// "every numeric column", and the like. The library never prints: it hands each warning to
// the handler the application installed (the moekit CLI prints them on stderr unless
// --quiet). Without a handler they are dropped.

#include <functional>
#include <string>

namespace moekit {

using WarningHandler = std::function<void(const std::string& message)>;

// Installs `handler` (an empty one drops warnings) and returns the one it replaces. Install
// it before the library runs on other threads.
WarningHandler set_warning_handler(WarningHandler handler);

// Passes `message` to the installed handler.
void warn(const std::string& message);

}  // namespace moekit
