// moekit: mixture-of-experts models from the command line. Errors are mapped to exit codes
// here and only here: 0 success, 1 bad input or usage, 2 numerical failure.

#include "commands.hpp"
#include "moekit/config.hpp"
#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  CLI::App app{"moekit " MOEKIT_VERSION_STRING ": mixture-of-experts models fitted by EM"};
  app.set_version_flag("--version", MOEKIT_VERSION_STRING);
  moekit::cli::add_fit_command(app);
  moekit::cli::add_predict_command(app);
  moekit::cli::add_summary_command(app);
  moekit::cli::add_select_command(app);
  moekit::cli::add_simulate_command(app);
  moekit::cli::add_info_command(app);
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);  // subcommand callbacks run inside parse
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // --help and --version exit 0
  } catch (const moekit::InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const moekit::NumericalError& e) {
    fmt::print(stderr, "numerical failure: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}
