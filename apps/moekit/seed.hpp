#pragma once
// --seed as a strict decimal integer in [0, 2^64 - 1]. CLI11 reads unsigned options with
// strtoull, which turns "-1" into 2^64 - 1 and saturates "18446744073709551616" there too:
// three different seeds silently became one. This check runs on the text before conversion.

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace moekit::cli {

class SeedCheck : public CLI::Validator {
 public:
  SeedCheck() {
    name_ = "SEED";
    func_ = [](std::string& text) -> std::string {
      // CLI11 puts the option's name in front: "--seed: got '-1'; a seed must be ...".
      const std::string bad = "got '" + text +
                              "'; a seed must be a whole number from 0 to 2^64 - 1 " +
                              "(18446744073709551615)";
      if (text.empty() || text.size() > 20) return bad;
      for (char c : text)
        if (c < '0' || c > '9') return bad;
      errno = 0;
      (void)std::strtoull(text.c_str(), nullptr, 10);
      if (errno == ERANGE) return bad;
      return {};
    };
  }
};

}  // namespace moekit::cli
