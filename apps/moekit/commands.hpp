#pragma once
// One function per subcommand; each registers its options and a callback on `app`.

#include <CLI/CLI.hpp>

namespace moekit::cli {

void add_fit_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_summary_command(CLI::App& app);
void add_select_command(CLI::App& app);
void add_simulate_command(CLI::App& app);
void add_info_command(CLI::App& app);

}  // namespace moekit::cli
