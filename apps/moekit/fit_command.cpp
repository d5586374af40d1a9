// moekit fit DATA.csv [options]: fits a mixture of experts by EM or gradient ascent, with
// standard errors (--se) and a bootstrap (--bootstrap) on request, and reports or saves it.

#include "commands.hpp"
#include "fit_args.hpp"
#include "report.hpp"

#include "moekit/backend/mpi_backend.hpp"
#include "moekit/backend/mpi_session.hpp"
#include "moekit/config.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/input_file.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/fit/fit_model.hpp"
#include "moekit/fit/warm_start.hpp"
#include "moekit/infer/bootstrap.hpp"
#include "moekit/infer/standard_errors.hpp"
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
  bool se = false;
  int bootstrap = 0;  // replicates of the nonparametric bootstrap; 0: none
  std::string tree, init_model;
};

// --init-model: the saved model fixes the families, the formula and the settings; -k may
// keep its K or add one component (split). EM runs from it (EmFitter::refine).
FitResult warm_fit(const FitCommandArgs& a, Model& model, Dataset& data) {
  if (a.method != "em")
    throw InputError::option("--init-model", a.init_model, "applies to --method em");
  if (!a.tree.empty())
    throw InputError::option("--tree", a.tree,
                             "the model given by --init-model fixes the tree; leave --tree out");
  Model saved = model_from_json(read_input_file(a.init_model, "model file"), a.init_model);
  CsvOptions csv;
  csv.delimiter = parse_delimiter(a.delimiter);
  saved.spec().data.weights_column = a.weights;
  data = apply_spec(read_csv(a.data, csv), saved.spec().data, true);
  const Index K = saved.components();
  if (a.K_given && a.K != K && a.K != K + 1)
    throw InputError::option(
        "-k", std::to_string(a.K),
        fmt::format("the model in {} has K = {}: give -k {} (refit) or -k {} (one component "
                    "more, split from the heaviest)",
                    a.init_model, K, K, K + 1));
  saved.check_data(data);
  model = a.K_given && a.K == K + 1 ? split_heaviest_component(saved, data) : std::move(saved);
  FitOptions options = make_fit_options(a);
  FitResult r = EmFitter(options).refine(model, data);
  r.init = "model " + a.init_model;
  return r;
}

#if MOEKIT_HAS_MPI
// mpirun -n P moekit fit: every process reads its share of the rows, and one EM runs over
// all of them (backend/mpi_backend.hpp). Every error stops every process alike.
FitResult mpi_fit(const FitCommandArgs& a, const FitOptions& options, Model& model, Dataset& data) {
  mpi::agree([&] {
    auto refuse = [](const std::string& flag, const std::string& value) {
      throw InputError::option(flag, value,
                               "is not available across MPI processes; run one process");
    };
    if (!a.init_model.empty()) refuse("--init-model", a.init_model);
    if (a.se) refuse("--se", "");
    if (a.bootstrap != 0) refuse("--bootstrap", std::to_string(a.bootstrap));
    if (a.method != "em") refuse("--method", a.method);
    if (a.device != "cpu") refuse("--device", a.device);
    if (!a.weights.empty()) refuse("--weights", a.weights);
  });
  ModelSpec spec;
  CsvOptions csv;
  mpi::agree([&] {
    spec = make_spec(a, static_cast<Index>(a.K), a.tree);
    csv.delimiter = parse_delimiter(a.delimiter);
  });
  CsvTable table = mpi::read_csv_share(a.data, csv);
  mpi::agree_class_labels(table, spec.data);
  mpi::agree([&] {
    // The spread of a column is a property of all the rows: checked across the shares below.
    data = make_dataset(table, spec.data, false);
    table = CsvTable();  // the parsed columns are not needed past here: free them
    model = Model(spec, data.y.cols(), data.x.cols(), data.z.cols());
    mpi::check_supported(model, data);
    model.spec().validate();
    model.check_data(data, false);
  });
  mpi::check_spread(model, data);
  const auto backend = mpi::make_mpi_backend(data);
  FitOptions o = options;
  if (mpi::rank() != 0) o.on_iteration = nullptr;
  FitResult r = EmFitter(o).fit(model, data, *backend);
  r.method = to_string(FitMethod::Em);
  return r;
}
#endif

void run_fit(const FitCommandArgs& a) {
  if (!a.tree.empty() && a.K_given && TreeShape::parse(a.tree).leaves() != a.K)
    throw InputError::option("--tree", a.tree,
                             fmt::format("has {} leaves but -k is {}: give one of them",
                                         TreeShape::parse(a.tree).leaves(), a.K));
  if ((a.se || a.bootstrap != 0) && !a.covariance.empty() &&
      is_coupled(parse_covariance(a.covariance)))
    throw InputError(
        fmt::format("{} needs an unconstrained parametrisation of the covariances; "
                    "--covariance {} is fitted by EM only (the standard errors of "
                    "VVV, VVI, VII, EEE, EEI and EII are available)",
                    a.se ? "--se" : "--bootstrap", a.covariance));
  FitOptions options = make_fit_options(a);
  BootstrapOptions boot;
  if (a.bootstrap != 0 && !a.weights.empty())
    throw InputError::option("--bootstrap", std::to_string(a.bootstrap),
                             "observation weights (--weights) are not supported by the "
                             "bootstrap: resampling would need to know whether they are "
                             "frequencies or survey weights");
  if (a.bootstrap != 0) {
    boot.replicates = a.bootstrap;
    boot.seed = a.seed;
    boot.threads = a.threads;
    boot.fit = options;
    boot.validate();
  }
  if (!a.out.empty()) refuse_overwrite(a.out, {a.data, a.init_model});
  Dataset data;
  Model model;
  FitResult result;
  // Under mpirun (even with one process) the fit runs on the MPI backend.
  const bool distributed = MOEKIT_HAS_MPI && mpi::launched_by_mpirun();
  if (distributed) {
#if MOEKIT_HAS_MPI
    auto progress = std::make_shared<Progress>(!a.quiet && isatty(STDERR_FILENO));
    options.on_iteration = [progress](const IterationInfo& info) { return progress->update(info); };
    result = mpi_fit(a, options, model, data);
    // Rank 0 writes the model and the report; the others wait for its verdict.
    mpi::agree([&] {
      if (mpi::rank() == 0 && !a.out.empty()) save_model(model, &result, a.out);
    });
    if (mpi::rank() != 0) return;
#endif
  } else if (!a.init_model.empty()) {
    result = warm_fit(a, model, data);
  } else {
    ModelSpec spec = make_spec(a, static_cast<Index>(a.K), a.tree);
    data = read_training_data(a, spec.data);
    check_rows_for_experts(spec, data);
    // Check that the families exist before any work is done.
    model = Model(spec, data.y.cols(), data.x.cols(), data.z.cols());
    auto progress = std::make_shared<Progress>(!a.quiet && isatty(STDERR_FILENO));
    options.on_iteration = [progress](const IterationInfo& info) { return progress->update(info); };
    result = fit_model(model, data, options);
  }
  if (a.se) {
    StandardErrors se = standard_errors(model, data);
    result.inference = std::move(se.table);
    for (auto& w : se.warnings) result.warnings.push_back(std::move(w));
  }
  if (a.bootstrap != 0) {
    ReplicateProgress line(!a.quiet, "bootstrap");
    boot.on_replicate = [&line](int done, int total) { line.update(done, total); };
    BootstrapResult b = bootstrap(model, data, boot);
    line.finish(b.replicates,
                b.failed > 0 ? fmt::format(" ({} could not be fitted)", b.failed) : "");
    merge_bootstrap(result.inference, b);
    result.bootstrap_replicates = b.replicates;
    result.bootstrap_level = b.level;
    for (auto& w : b.warnings) result.warnings.push_back(std::move(w));
  }

  if (!a.out.empty() && !distributed) save_model(model, &result, a.out);
  if (a.json) {
    fmt::print("{}\n", fit_json(model, result));
  } else {
    fmt::print("{}", fit_text(model, result));
    if (!a.out.empty()) fmt::print("model written to {}\n", a.out);
  }
  // The text report ends with the warnings; stderr repeats them unless it is the same place.
  if (!a.quiet && (a.json || !stdout_is_stderr()))
    for (const auto& w : result.warnings) fmt::print(stderr, "warning: {}\n", w);
  // A separated fit is not converged either, but its warning above says why.
  if (result.status == FitStatus::MaxIterations && !a.quiet)
    fmt::print(
        stderr,
        "warning: {} did not converge within --max-iter {} (last relative change above --tol {})\n",
        a.method == "gradient" ? "gradient ascent" : "EM", a.max_iter, a.tol);
}

}  // namespace

void add_fit_command(CLI::App& app) {
  auto a = std::make_shared<FitCommandArgs>();
  CLI::App* cmd =
      app.add_subcommand("fit", "Fit a mixture of experts to CSV data by EM or gradient ascent");
  add_model_options(cmd, *a);
  auto* k = cmd->add_option("-k,--components", a->K, "Number of experts K")->capture_default_str();
  cmd->add_option("--tree", a->tree,
                  "Hierarchical mixture of experts: branching factors of the gating tree, root "
                  "first ('2,3': a root gate over 2 gates of 3 experts each; '4' is -k 4)");
  cmd->add_option("-o,--out", a->out, "Write the fitted model (JSON) to this file, atomically");
  cmd->add_flag("--json", a->json, "Print one JSON object with the fit and the parameters");
  cmd->add_flag("--se", a->se,
                "Standard errors, z values and p-values of the natural parameters from the "
                "observed information (stored in --out's fit record, shown by summary)");
  cmd->add_option("--init-model", a->init_model,
                  "Start EM from this saved model (its families, formula and settings); with -k "
                  "one above its K, from it with the heaviest component split in two");
  cmd->add_option("--bootstrap", a->bootstrap,
                  "Nonparametric bootstrap with this many replicates (e.g. 200): standard errors "
                  "and 2.5%/97.5% percentile intervals of the natural parameters, each replicate "
                  "refitted by EM from the fitted model; seeded by --seed, on --threads threads");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress line and no warnings on stderr");
  cmd->callback([a, k] {
    a->K_given = k->count() > 0;
    run_fit(*a);
  });
}

}  // namespace moekit::cli
