// moekit fit DATA.csv [options]: fits a mixture of experts by EM and reports or saves it.

#include "commands.hpp"
#include "fit_args.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/model/families.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <memory>

namespace moekit::cli {

namespace {

struct FitCommandArgs : FitArgs {
  long K = 2;
  bool K_given = false;
  std::string tree;
};

void run_fit(const FitCommandArgs& a) {
  if (!a.tree.empty() && a.K_given && TreeShape::parse(a.tree).leaves() != a.K)
    throw InputError::option("--tree", a.tree,
                             fmt::format("has {} leaves but -k is {}: give one of them",
                                         TreeShape::parse(a.tree).leaves(), a.K));
  ModelSpec spec = make_spec(a, static_cast<Index>(a.K), a.tree);
  FitOptions options = make_fit_options(a);
  if (!a.out.empty()) refuse_overwrite(a.out, {a.data});

  const Dataset data = read_training_data(a, spec.data);
  check_rows_for_experts(spec, data);
  Model model(spec, data.y.cols(), data.x.cols(), data.z.cols());

  auto progress = std::make_shared<Progress>(!a.quiet && isatty(STDERR_FILENO));
  options.on_iteration = [progress](const IterationInfo& info) { return progress->update(info); };
  const FitResult result = EmFitter(options).fit(model, data);
  progress.reset();

  if (!a.out.empty()) save_model(model, &result, a.out);
  if (a.json) {
    fmt::print("{}\n", fit_json(model, result));
  } else {
    fmt::print("{}", fit_text(model, result));
    if (!a.out.empty()) fmt::print("model written to {}\n", a.out);
  }
  if (!a.quiet)
    for (const auto& w : result.warnings) fmt::print(stderr, "warning: {}\n", w);
  if (!result.converged() && !a.quiet)
    fmt::print(
        stderr,
        "warning: EM did not converge within --max-iter {} (last relative change above --tol {})\n",
        a.max_iter, a.tol);
}

}  // namespace

void add_fit_command(CLI::App& app) {
  auto a = std::make_shared<FitCommandArgs>();
  CLI::App* cmd = app.add_subcommand("fit", "Fit a mixture of experts to CSV data by EM");
  add_model_options(cmd, *a);
  auto* k = cmd->add_option("-k,--components", a->K, "Number of experts K")->capture_default_str();
  cmd->add_option("--tree", a->tree,
                  "Hierarchical mixture of experts: branching factors of the gating tree, root "
                  "first ('2,3': a root gate over 2 gates of 3 experts each; '4' is -k 4)");
  cmd->add_option("-o,--out", a->out, "Write the fitted model (JSON) to this file, atomically");
  cmd->add_flag("--json", a->json, "Print one JSON object with the fit and the parameters");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress line and no warnings on stderr");
  cmd->callback([a, k] {
    a->K_given = k->count() > 0;
    run_fit(*a);
  });
}

}  // namespace moekit::cli
