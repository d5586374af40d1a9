#include "fit_args.hpp"

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/formula.hpp"
#include "moekit/model/families.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <cstdio>

namespace moekit::cli {

void add_model_options(CLI::App* cmd, FitArgs& a) {
  cmd->add_option("data", a.data, "CSV file with a header row ('-' reads standard input)")
      ->required();
  cmd->add_option(
      "--formula", a.formula,
      "Model formula 'y1 + y2 ~ x1 + x2'; without it every numeric column is a response");
  cmd->add_option("--gate-formula", a.gate_formula,
                  "Gate covariates '~ z1 + z2' (default: the formula's right side)");
  cmd->add_option(
         "--experts", a.experts,
         "gaussian | linear | logistic | poisson | binomial | gamma | negbin | laplace | t")
      ->capture_default_str();
  cmd->add_option("--gate", a.gate,
                  "constant | softmax | gaussian (Xu, Jordan & Hinton: models the gate "
                  "covariates; EM maximises the joint likelihood), at every inner node")
      ->capture_default_str();
  cmd->add_option("--gate-covariance", a.gate_covariance,
                  "Gaussian gates: covariance structure of the gate covariates (as "
                  "--covariance; default full)");
  cmd->add_option("--covariance", a.covariance,
                  "gaussian, linear and t experts: one of mclust's 14 structures EII, VII, EEI, "
                  "VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV (volume, shape, "
                  "orientation: Equal, Variable or Identity), or full (default; = VVV) | diag "
                  "(VVI) | spherical (VII) | tied-full (EEE) | tied-diag (EEI) | tied-spherical "
                  "(EII). select: also 'all' or a comma list, for the K x structure BIC table");
  cmd->add_option("--method", a.method,
                  "em | gradient (L-BFGS on the log-likelihood from EM's starts after "
                  "--warmup-iter EM iterations)")
      ->capture_default_str();
  cmd->add_option("--warmup-iter", a.warmup_iter,
                  "--method gradient: EM iterations from each start before L-BFGS (>= 1)")
      ->capture_default_str();
  cmd->add_option("--gradient-tol", a.gradient_tol,
                  "--method gradient: also stop when the score norm per row is at most this")
      ->capture_default_str();
  cmd->add_option("--init", a.init,
                  "auto (gaussian experts and gates: hc first, then short-em; regression "
                  "experts: short-em) | short-em (each start the best of --short-starts "
                  "candidates of the other kinds after --short-iter EM iterations) | hc "
                  "(model-based hierarchical agglomeration) | kmeans++ | lines | partition | "
                  "random (docs/starts.md)")
      ->capture_default_str();
  cmd->add_option("--short-starts", a.short_starts,
                  "Short-EM: candidates per start (random lines, random partitions, random "
                  "responsibilities, k-means++ taking turns)")
      ->capture_default_str();
  cmd->add_option("--split-merge", a.split_merge,
                  "Split-and-merge moves tried per round from the best start's maximum when "
                  "K >= 3 (Ueda et al. 2000; 0: none)")
      ->capture_default_str();
  cmd->add_option("--short-iter", a.short_iter, "Short-EM: EM iterations per candidate")
      ->capture_default_str();
  cmd->add_option("--restarts", a.restarts, "Number of starts; the best log-likelihood is kept")
      ->capture_default_str();
  cmd->add_option("--seed", a.seed, "Random seed (results are reproducible for a seed)")
      ->capture_default_str();
  cmd->add_option("--max-iter", a.max_iter, "Iteration cap per start")->capture_default_str();
  cmd->add_option("--tol", a.tol, "Stop when the relative log-likelihood change is at most this")
      ->capture_default_str();
  cmd->add_option("--reg-covar", a.reg_covar,
                  "Variance floor as a fraction of each response's variance: every covariance "
                  "is held at Sigma >= reg-covar diag(var) (gaussian, linear and t experts, "
                  "gaussian gates on var(z)); the log-likelihood is the plain one, maximised "
                  "under that constraint (0: no floor)")
      ->capture_default_str();
  cmd->add_option("--df", a.df,
                  "t experts: hold every nu_k at this value (e.g. 4; 1e6 is Gaussian); 0 estimates "
                  "nu_k in [0.1, 200] (a warning when the lower bound is reached)")
      ->capture_default_str();
  cmd->add_option("--gate-ridge", a.gate_ridge,
                  "Softmax gate: L2 penalty (ridge/2)||v||^2 on the gate coefficients (0: plain "
                  "maximum likelihood)")
      ->capture_default_str();
  cmd->add_option("--threads", a.threads, "Threads (0: all cores); results do not depend on it")
      ->capture_default_str();
  cmd->add_option("--device", a.device,
                  "cpu | cuda (GPU E-step for Gaussian and linear experts under a constant or "
                  "softmax gate; other models run on the CPU with a warning)")
      ->capture_default_str();
  cmd->add_flag("--float32", a.float32,
                "--device cuda: data, E-step and posteriors in float32 (the M-step's statistics "
                "are still summed in double)");
  cmd->add_option("--weights", a.weights,
                  "Column of observation weights (frequency or survey weights, finite and >= 0; "
                  "one per group with '| g'): the log-likelihood is sum_i w_i log p(y_i), every "
                  "M-step sum is weighted and BIC's n is sum_i w_i (flexmix's weights=); the "
                  "column is not a covariate. Starts (k-means++, random) ignore the weights");
  cmd->add_option("--delimiter", a.delimiter, "Field separator of the CSV (',' by default; 'tab')");
}

namespace {

// True when the formula's right side names covariates (terms or '.'), not just '1' or '-1'.
bool formula_has_covariates(const std::string& formula) {
  if (formula.empty()) return false;
  const Formula f = parse_formula(formula);
  return !f.terms.empty() || f.has_dot;
}

}  // namespace

ModelSpec make_spec(const FitArgs& a, Index K, const std::string& tree) {
  const ExpertFamilyTraits& family = expert_family(a.experts);
  const GateKindTraits& gate = gate_kind(a.gate);
  ModelSpec spec;
  spec.experts = a.experts;
  spec.gate = a.gate;
  spec.K = K;
  if (!tree.empty()) spec.set_shape(TreeShape::parse(tree));
  // Options a family or gate would ignore are refused: the user meant something by them.
  if (!a.covariance.empty() && !family.uses_covariance)
    throw InputError::option("--covariance", a.covariance,
                             fmt::format("applies to gaussian, linear and t experts; {} experts "
                                         "have no covariance matrix",
                                         a.experts));
  spec.covariance = parse_covariance(a.covariance.empty() ? "full" : a.covariance);
  if (is_coupled(spec.covariance) && a.method == "gradient")
    throw InputError::option("--covariance", a.covariance,
                             "is fitted by EM only (--method gradient needs an unconstrained "
                             "parametrisation: VVV, VVI, VII, EEE, EEI or EII)");
  if (!a.gate_formula.empty() && !gate.reads_covariates)
    throw InputError::option("--gate-formula", a.gate_formula,
                             fmt::format("a {} gate reads no covariates; use --gate softmax or "
                                         "--gate gaussian for a gate that depends on them",
                                         a.gate));
  if (!family.reads_covariates && formula_has_covariates(a.formula) &&
      (!gate.reads_covariates || !a.gate_formula.empty()))
    throw InputError::option(
        "--formula", a.formula,
        fmt::format("{} experts do not read covariates and the {} gate {}, so its right side "
                    "would be ignored: write '~ 1', or use --experts linear for a regression{}",
                    a.experts, a.gate, a.gate_formula.empty() ? "has none" : "reads --gate-formula",
                    gate.reads_covariates ? "" : " or --gate softmax for a gate on them"));
  spec.reg_covar = a.reg_covar;
  if (a.gate_ridge != 0.0 && !gate.uses_ridge)
    throw InputError::option("--gate-ridge", fmt::format("{}", a.gate_ridge),
                             "applies to --gate softmax only");
  spec.gate_ridge = a.gate_ridge;
  if (!a.gate_covariance.empty()) {
    if (!gate.uses_covariance)
      throw InputError::option("--gate-covariance", a.gate_covariance,
                               "applies to --gate gaussian only");
    spec.gate_covariance = parse_covariance(a.gate_covariance);
  }
  if (a.df != 0.0 && !family.estimates_df)
    throw InputError::option("--df", fmt::format("{}", a.df), "applies to --experts t only");
  spec.df = a.df;
  spec.data.formula = a.formula;
  spec.data.gate_formula = a.gate_formula;
  spec.data.weights_column = a.weights;
  spec.data.categorical_response = family.categorical_response;
  spec.validate();
  return spec;
}

FitOptions make_fit_options(const FitArgs& a) {
  FitOptions options;
  options.max_iter = a.max_iter;
  options.tol = a.tol;
  options.restarts = a.restarts;
  options.seed = a.seed;
  options.threads = a.threads;
  options.init = parse_init(a.init);
  options.short_starts = a.short_starts;
  options.short_iter = a.short_iter;
  options.split_merge = a.split_merge;
  options.device = parse_device(a.device);
  if (a.float32 && options.device != Device::Cuda)
    throw InputError("--float32 applies to --device cuda only");
  options.float32 = a.float32;
  options.method = parse_method(a.method);
  options.warmup_iter = a.warmup_iter;
  options.gradient_tol = a.gradient_tol;
  options.validate();
  return options;
}

char parse_delimiter(const std::string& d) {
  if (d == "\\t" || d == "tab") return '\t';
  if (d.size() != 1)
    throw InputError::option("--delimiter", d, "must be a single character (or 'tab')");
  return d[0];
}

Dataset read_training_data(const FitArgs& a, DataSpec& spec) {
  CsvOptions csv;
  csv.delimiter = parse_delimiter(a.delimiter);
  return make_dataset(read_csv(a.data, csv), spec);
}

Progress::Progress(bool enabled, std::string prefix)
    : enabled_(enabled), prefix_(std::move(prefix)), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (shown_) std::fprintf(stderr, "\r\033[K");
}

bool Progress::update(const IterationInfo& info) {
  if (!enabled_) return true;
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(100))
    return true;
  last_ = now;
  shown_ = true;
  std::fprintf(stderr, "\r\033[K%sstart %d/%d  iteration %d  loglik %.10g  change %.2e",
               prefix_.c_str(), info.restart + 1, info.restarts, info.iteration, info.loglik,
               info.change);
  std::fflush(stderr);
  return true;
}

ReplicateProgress::ReplicateProgress(bool enabled, std::string what)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      what_(std::move(what)),
      start_(std::chrono::steady_clock::now()) {}

void ReplicateProgress::update(int done, int total) {
  if (!enabled_ || !tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  shown_ = true;
  std::fprintf(stderr, "\r\033[K%s: replicate %d/%d", what_.c_str(), done, total);
  std::fflush(stderr);
}

void ReplicateProgress::finish(int total, const std::string& note) {
  if (!enabled_) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s: %d replicates in %.2f s%s\n", shown_ ? "\r\033[K" : "", what_.c_str(),
               total, seconds, note.c_str());
  std::fflush(stderr);
}

}  // namespace moekit::cli
