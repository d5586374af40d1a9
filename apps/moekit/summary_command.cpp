// moekit summary MODEL.json [--json]: what a saved model is and how it was fitted.

#include "commands.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <sstream>

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
    const Model model = load_model(a->model);
    std::ifstream in(a->model, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const FitResult fit = fit_record_from_json(ss.str());
    fmt::print("{}\n", a->json ? fit_json(model, fit) : fit_text(model, fit));
  });
}

}  // namespace moekit::cli
