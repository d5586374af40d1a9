// moekit fit DATA.csv [options]: fits a mixture of experts by EM and reports or saves it.

#include "commands.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <memory>

namespace moekit::cli {

namespace {

struct FitArgs {
  std::string data, formula, gate_formula, experts = "gaussian", gate = "constant",
                                           covariance = "full";
  std::string method = "em", init = "auto", out, delimiter = ",", device = "cpu";
  long K = 2;
  int restarts = 1, max_iter = 1000, threads = 0;
  std::uint64_t seed = 1;
  double tol = 1e-8, reg_covar = 1e-6;
  double gate_ridge = 0.0;  // softmax gate: L2 penalty on the gate coefficients
  double df = 0.0;          // t experts: fixed nu; 0 estimates it
  bool json = false, quiet = false;
};

char parse_delimiter(const std::string& d) {
  if (d == "\\t" || d == "tab") return '\t';
  if (d.size() != 1)
    throw InputError::option("--delimiter", d, "must be a single character (or 'tab')");
  return d[0];
}

// The progress line: shown on a terminal once a fit has run for a second, at most ten
// times a second, erased at the end.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  ~Progress() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }
  bool update(const IterationInfo& info) {
    if (!enabled_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(100))
      return true;
    last_ = now;
    shown_ = true;
    std::fprintf(stderr, "\r\033[Kstart %d/%d  iteration %d  loglik %.10g  change %.2e",
                 info.restart + 1, info.restarts, info.iteration, info.loglik, info.change);
    std::fflush(stderr);
    return true;
  }

 private:
  bool enabled_, shown_ = false;
  std::chrono::steady_clock::time_point start_, last_{};
};

void run_fit(const FitArgs& a) {
  if (a.method != "em")
    throw InputError::option("--method", a.method,
                             "only em is available in this version (gradient fitting comes later)");
  ModelSpec spec;
  spec.experts = a.experts;
  spec.gate = a.gate;
  spec.K = a.K;
  spec.covariance = parse_covariance(a.covariance);
  spec.reg_covar = a.reg_covar;
  if (a.gate_ridge != 0.0 && a.gate != "softmax")
    throw InputError::option("--gate-ridge", fmt::format("{}", a.gate_ridge),
                             "applies to --gate softmax only");
  spec.gate_ridge = a.gate_ridge;
  if (a.df != 0.0 && a.experts != "t")
    throw InputError::option("--df", fmt::format("{}", a.df), "applies to --experts t only");
  spec.df = a.df;
  spec.data.formula = a.formula;
  spec.data.gate_formula = a.gate_formula;
  spec.data.categorical_response = a.experts == "logistic";
  spec.validate();
  FitOptions options;
  options.max_iter = a.max_iter;
  options.tol = a.tol;
  options.restarts = a.restarts;
  options.seed = a.seed;
  options.threads = a.threads;
  options.init = parse_init(a.init);
  options.device = parse_device(a.device);
  options.validate();
  if (!a.out.empty()) refuse_overwrite(a.out, {a.data});

  CsvOptions csv;
  csv.delimiter = parse_delimiter(a.delimiter);
  const CsvTable table = read_csv(a.data, csv);
  const Dataset data = make_dataset(table, spec.data);
  // Check that the families exist before any work is done.
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
  auto a = std::make_shared<FitArgs>();
  CLI::App* cmd = app.add_subcommand("fit", "Fit a mixture of experts to CSV data by EM");
  cmd->add_option("data", a->data, "CSV file with a header row ('-' reads standard input)")
      ->required();
  cmd->add_option(
      "--formula", a->formula,
      "Model formula 'y1 + y2 ~ x1 + x2'; without it every numeric column is a response");
  cmd->add_option("--gate-formula", a->gate_formula,
                  "Gate covariates '~ z1 + z2' (default: the formula's right side)");
  cmd->add_option("--experts", a->experts, "Expert family")->capture_default_str();
  cmd->add_option("--gate", a->gate, "Gate")->capture_default_str();
  cmd->add_option("-k,--components", a->K, "Number of experts K")->capture_default_str();
  cmd->add_option("--covariance", a->covariance,
                  "full | diag | spherical | tied-full | tied-diag | tied-spherical (or VVV, VVI, "
                  "VII, EEE, EEI, EII)")
      ->capture_default_str();
  cmd->add_option("--method", a->method, "Fitting method")->capture_default_str();
  cmd->add_option("--init", a->init,
                  "auto (k-means++ for gaussian experts; random and k-means++ on [x, y] "
                  "alternating across starts for regression experts) | kmeans++ | random")
      ->capture_default_str();
  cmd->add_option("--restarts", a->restarts, "Number of starts; the best log-likelihood is kept")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed (results are reproducible for a seed)")
      ->capture_default_str();
  cmd->add_option("--max-iter", a->max_iter, "Iteration cap per start")->capture_default_str();
  cmd->add_option("--tol", a->tol, "Stop when the relative log-likelihood change is at most this")
      ->capture_default_str();
  cmd->add_option("--reg-covar", a->reg_covar, "Ridge added to covariance diagonals")
      ->capture_default_str();
  cmd->add_option("--df", a->df,
                  "t experts: hold every nu_k at this value (e.g. 4; 1e6 is Gaussian); 0 estimates "
                  "nu_k in [0.5, 200]")
      ->capture_default_str();
  cmd->add_option("--gate-ridge", a->gate_ridge,
                  "Softmax gate: L2 penalty (ridge/2)||v||^2 on the gate coefficients (0: plain "
                  "maximum likelihood)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads (0: all cores); results do not depend on it")
      ->capture_default_str();
  cmd->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  cmd->add_option("--delimiter", a->delimiter,
                  "Field separator of the CSV (',' by default; 'tab')");
  cmd->add_option("-o,--out", a->out, "Write the fitted model (JSON) to this file, atomically");
  cmd->add_flag("--json", a->json, "Print one JSON object with the fit and the parameters");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress line and no warnings on stderr");
  cmd->callback([a] { run_fit(*a); });
}

}  // namespace moekit::cli
