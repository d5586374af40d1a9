// moekit summary MODEL.json [--json]: what a saved model is and how it was fitted.

#include "commands.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/input_file.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>

#include <memory>

namespace moekit::cli {

void add_summary_command(CLI::App& app) {
  struct Args {
    std::string model;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("summary", "Describe a saved model: spec, parameters, fit record");
  cmd->add_option("model", a->model, "Model file written by 'moekit fit --out'")->required();
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] {
    // Read once (a folder or a missing file named as such; '-' reads standard input).
    const std::string text = read_input_file(a->model, "model file");
    const Model model = model_from_json(text, a->model);
    const FitResult fit = fit_record_from_json(text, a->model);
    fmt::print("{}\n", a->json ? fit_json(model, fit) : fit_text(model, fit));
  });
}

}  // namespace moekit::cli
