// moekit: mixture-of-experts models from the command line. Errors are mapped to exit codes
// here and only here: 0 success, 1 bad input or usage, 2 numerical failure.

#include "commands.hpp"
#include "seed.hpp"

#include "moekit/backend/mpi_session.hpp"
#include "moekit/config.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/output_file.hpp"
#include "moekit/core/warning.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<std::string> command_names(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  return names;
}

// CLI11 answers an unknown command with "A subcommand is required" or "The following argument
// was not expected": say which word was taken for a command, and list the commands.
bool unknown_command(CLI::App& app, int argc, char** argv) {
  const std::vector<std::string> names = command_names(app);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  if (argc < 2) {
    fmt::print(stderr, "error: no command given; the commands are {} (moekit --help)\n", list);
    return true;
  }
  const std::string first = argv[1];
  if (first.empty() || first[0] == '-') return false;  // an option of moekit itself
  for (const auto& n : names)
    if (n == first) return false;
  fmt::print(stderr, "error: unknown command '{}'; the commands are {} (moekit --help)\n",
             moekit::excerpt(first), list);
  return true;
}

// Each subcommand's --seed goes through the strict parser (see seed.hpp), and a bad --out is
// refused before any work is done.
void tighten_options(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (CLI::Option* seed = sub->get_option_no_throw("--seed"))
      seed->check(moekit::cli::SeedCheck());
  app.parse_complete_callback([&app] {
    for (CLI::App* sub : app.get_subcommands())
      if (const CLI::Option* out = sub->get_option_no_throw("--out"); out && out->count() > 0)
        moekit::check_output_path(out->as<std::string>());
  });
}

// Warnings from the library go to stderr, unless the command was given --quiet.
void print_warnings(CLI::App& app) {
  moekit::set_warning_handler([&app](const std::string& message) {
    for (const CLI::App* sub : app.get_subcommands())
      if (const CLI::Option* q = sub->get_option_no_throw("--quiet"); q && q->count() > 0) return;
    if (moekit::mpi::rank() != 0) return;  // under MPI, rank 0 speaks for all
    fmt::print(stderr, "warning: {}\n", message);
  });
}

// Under MPI every process runs the command; an error that every process met alike
// (mpi::settle) is printed once, by rank 0, and one that only this process met ends them all.
int fail(int code, const std::string& message) {
  if (moekit::mpi::rank() == 0 || !moekit::mpi::error_was_agreed())
    fmt::print(stderr, "{}\n", message);
  if (moekit::mpi::size() > 1 && !moekit::mpi::error_was_agreed()) moekit::mpi::abort_all(code);
  return code;
}

int run(int argc, char** argv) {
  CLI::App app{"moekit " MOEKIT_VERSION_STRING ": mixture-of-experts models fitted by EM"};
  app.set_version_flag("--version", MOEKIT_VERSION_STRING);
  moekit::cli::add_fit_command(app);
  moekit::cli::add_predict_command(app);
  moekit::cli::add_summary_command(app);
  moekit::cli::add_select_command(app);
  moekit::cli::add_simulate_command(app);
  moekit::cli::add_info_command(app);
  app.require_subcommand(1);
  tighten_options(app);
  print_warnings(app);
  // An input read as '-' is protected like a named one: no --out may replace it.
  moekit::protect_standard_input();
  if (unknown_command(app, argc, argv)) return 1;
  if (moekit::mpi::size() > 1 && std::strcmp(argv[1], "fit") != 0 &&
      std::strcmp(argv[1], "predict") != 0) {
    if (moekit::mpi::rank() == 0)
      fmt::print(stderr,
                 "error: under mpirun only 'moekit fit' and 'moekit predict' run across "
                 "processes; run '{}' as one process\n",
                 moekit::excerpt(argv[1]));
    return 1;
  }
  try {
    app.parse(argc, argv);  // subcommand callbacks run inside parse
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // --help and --version exit 0
  } catch (const moekit::InputError& e) {
    return fail(1, fmt::format("error: {}", e.what()));
  } catch (const moekit::NumericalError& e) {
    return fail(2, fmt::format("numerical failure: {}", e.what()));
  } catch (const std::bad_alloc&) {
    // Memory runs out on input that asks for too much (a huge -k, --n or data set): that is
    // the input's size, not a numerical failure.
    return fail(1,
                "error: out of memory: the data or options ask for more memory than this "
                "machine has (a very large -k, --n or data set?)");
  } catch (const std::length_error& e) {
    return fail(1,
                fmt::format("error: too large: {} (a very large -k, --n or data set?)", e.what()));
  } catch (const std::exception& e) {
    return fail(2, fmt::format("error: {}", e.what()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<moekit::mpi::Session> mpi;
  if (moekit::mpi::launched_by_mpirun()) {
    try {
      mpi.emplace(argc, argv);
    } catch (const moekit::InputError& e) {
      fmt::print(stderr, "error: {}\n", e.what());
      return 1;
    }
  }
  return run(argc, argv);
}
