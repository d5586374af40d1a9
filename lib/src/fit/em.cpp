#include "moekit/fit/em.hpp"

#include "elapsed.hpp"
#include "moekit/backend/estep_backend.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/fit/degenerate.hpp"
#include "moekit/fit/init.hpp"
#include "moekit/fit/split_merge.hpp"
#include "moekit/infer/criteria.hpp"

#include <fmt/format.h>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

namespace moekit {

namespace {

using Clock = std::chrono::steady_clock;

// Starting responsibilities of grouped data: the mean over each group's rows, so that a
// group starts in one (soft) component as EM requires.
void share_within_groups(const Dataset& data, Matrix& resp) {
  if (!data.grouped()) return;
  Matrix sum = Matrix::Zero(data.groups(), resp.cols());
  Vector count = Vector::Zero(data.groups());
  for (Index i = 0; i < resp.rows(); ++i) {
    sum.row(data.group[static_cast<size_t>(i)]) += resp.row(i);
    count(data.group[static_cast<size_t>(i)]) += 1.0;
  }
  for (Index i = 0; i < resp.rows(); ++i) {
    const Index g = data.group[static_cast<size_t>(i)];
    resp.row(i) = sum.row(g) / count(g);
  }
}

}  // namespace

std::vector<Degenerate> degenerate_components(const Model& model,
                                              const Posteriors& post,
                                              const Vector& response_sd) {
  const Index K = model.components();
  const Experts& e = model.experts();
  // A component's own parameters, and its share of those the components share in part (a
  // common volume, shape or orientation); a tied covariance is not its own
  // (Experts::shared_num_params).
  const double own =
      static_cast<double>(e.num_params() - e.shared_num_params()) / static_cast<double>(K);
  const Vector& N = post.leaf_masses;
  std::vector<Degenerate> out;
  for (Index k = 0; k < K; ++k) {
    bool flagged = false;
    if (N(k) < own) {
      out.push_back({k, N(k) < 0.5 ? fmt::format("it holds {:.3g} rows' worth of responsibility: "
                                                 "it is empty",
                                                 N(k))
                                   : fmt::format("it holds {:.3g} rows' worth of responsibility, "
                                                 "fewer than its {:.3g} parameters",
                                                 N(k), own)});
      continue;
    }
    for (Index j = 0; j < response_sd.size(); ++j) {
      const auto m = e.marginal(k, j);
      // A count's spread is set by its mean: only continuous marginals have a scale to judge.
      if (m && m->has_scale() && response_sd(j) > 0 &&
          m->scale < kDegenerateScale * response_sd(j)) {
        out.push_back(
            {k, fmt::format("its scale for response {} is {:.3g}, below {} x the response's "
                            "standard deviation {:.3g}",
                            j + 1, m->scale, kDegenerateScale, response_sd(j))});
        flagged = true;
        break;
      }
    }
    if (!flagged) {
      if (const auto thinnest = thinnest_scale(e, k, response_sd);
          thinnest && *thinnest < kDegenerateScale)
        out.push_back({k, fmt::format("along its thinnest direction its scale is {:.3g} of the "
                                      "responses' standard deviations, below {}",
                                      *thinnest, kDegenerateScale)});
    }
  }
  return out;
}

std::optional<double> thinnest_scale(const Experts& experts, Index k, const Vector& response_sd) {
  const Matrix* sigma = experts.scale_matrix(k);
  const Index q = response_sd.size();
  if (sigma == nullptr || q < 2 || sigma->rows() != q || (response_sd.array() <= 0).any())
    return std::nullopt;
  // D^-1 Sigma_k D^-1 with D = diag(response sd): the covariance in standardised responses,
  // whose smallest eigenvalue is the variance along the component's thinnest direction.
  const Vector inv = response_sd.cwiseInverse();
  const Matrix standardised = inv.asDiagonal() * (*sigma) * inv.asDiagonal();
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(standardised, Eigen::EigenvaluesOnly);
  if (eig.info() != Eigen::Success) return std::nullopt;
  return std::sqrt(std::max(eig.eigenvalues()(0), 0.0));
}

Vector response_sd(const Dataset& data) {
  // Two passes per row block on the threads (weighted sums, then weighted squared deviations
  // about the mean), added in block order.
  const Index q = data.y.cols();
  const auto weights = [&](Index begin, Index size) {
    return data.weighted() ? Vector(data.weights.segment(begin, size)) : Vector::Ones(size);
  };
  const Vector sums = reduce_blocks(
      data.rows(), Vector(Vector::Zero(q + 1)), [&](Index begin, Index size, Vector& acc) {
        const Vector w = weights(begin, size);
        acc(q) += w.sum();
        acc.head(q).noalias() += data.y.middleRows(begin, size).transpose() * w;
      });
  const double W = sums(q);
  const Vector mean = sums.head(q) / W;
  const Vector squares = reduce_blocks(
      data.rows(), Vector(Vector::Zero(q)), [&](Index begin, Index size, Vector& acc) {
        const Vector w = weights(begin, size);
        for (Index j = 0; j < q; ++j)
          acc(j) +=
              (w.array() * (data.y.col(j).segment(begin, size).array() - mean(j)).square()).sum();
      });
  return (squares / std::max(1.0, W - 1.0)).cwiseSqrt();
}

namespace {

// The share of each row that a hard start whose first M-step collapses a regression expert
// gives to the other experts (EmFitter::run): as split_merge_start's soft cut, enough for every
// expert's weighted design to have the full design's rank.
constexpr double kHardStartShare = 0.1;

// Rows of `resp` (each summing to 1) moved a share `share` towards the other columns:
// (1 - share) r_ik + share (1 - r_ik) / (K - 1), which sums to 1 again.
void soften_responsibilities(Matrix& resp, double share) {
  const Index K = resp.cols();
  if (K < 2) return;
  const double other = share / static_cast<double>(K - 1);
  resp = ((1.0 - share) * resp.array() + other * (1.0 - resp.array())).matrix();
}

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& w : from)
    if (std::find(to.begin(), to.end(), w) == to.end()) to.push_back(w);
}

}  // namespace

Matrix init_features(const Model& model, const Dataset& data) {
  // Gaussian experts cluster y; regression experts the covariates (without the intercept)
  // and y; a gate that models z adds z's columns that x does not have.
  std::vector<Vector> cols;
  auto add_varying = [&](const Matrix& m) {
    for (Index j = 0; j < m.cols(); ++j) {
      if ((m.col(j).array() == m(0, j)).all()) continue;
      bool seen = false;
      for (const auto& c : cols) seen = seen || c == m.col(j);
      if (!seen) cols.push_back(m.col(j));
    }
  };
  if (model.experts().reads_covariates()) add_varying(data.x);
  if (model.joint()) add_varying(data.z);
  Matrix f(data.rows(), static_cast<Index>(cols.size()) + data.y.cols());
  for (size_t c = 0; c < cols.size(); ++c) f.col(static_cast<Index>(c)) = cols[c];
  f.rightCols(data.y.cols()) = data.y;
  return f;
}

EmFitter::EmFitter(FitOptions options) : options_(std::move(options)) { options_.validate(); }

FitResult EmFitter::run(Model& model,
                        const Dataset& data,
                        const EStepBackend& backend,
                        int restart,
                        std::uint64_t seed,
                        bool initialise,
                        const Matrix* start_leaves) const {
  const auto t0 = Clock::now();
  // Under MPI `data` is this process's share of the rows and `common` the rows all hold.
  const Dataset& common = backend.common_rows(data);
  const Index n = backend.total_rows(data), K = model.components();
  FitResult result;
  result.joint = model.joint();
  Posteriors post;
  Rng rng(derive_seed(seed, static_cast<std::uint64_t>(restart)));
  int reseeds = 0;

  // Re-seeds every collapsed component at the row the model explains worst (a new row each).
  // `iteration` is the first whose log-likelihood follows the re-seed.
  auto reseed = [&](const std::vector<Index>& collapsed, int iteration,
                    const char* why = "collapsed (too few points or a singular covariance)") {
    if (collapsed.empty()) return false;
    reseeds += static_cast<int>(collapsed.size());
    if (reseeds > options_.max_reseeds)
      throw NumericalError(
          fmt::format("component {}", collapsed.front() + 1), iteration,
          fmt::format("components keep collapsing ({} re-seeds); the data may hold repeated "
                      "points or fewer clusters than K = {}: try a smaller -k, another "
                      "--covariance or a larger --reg-covar",
                      reseeds, K));
    Vector row_loglik = backend.common_row_loglik(model, data, post);
    const Index rows = common.rows();
    for (Index k : collapsed) {
      Index row = 0;
      if (row_loglik.size() == rows) {
        row_loglik.minCoeff(&row);
        row_loglik(row) = std::numeric_limits<double>::infinity();
      } else {
        row = static_cast<Index>(uniform01(rng) * static_cast<double>(rows)) % rows;
      }
      model.reseed_leaf(k, common, row);
      result.warnings.push_back(
          fmt::format("component {} {} at iteration {}; re-seeded at the row on line {}", k + 1,
                      why, iteration, common.line_of(row)));
    }
    result.reseed_iterations.push_back(iteration);
    return true;
  };

  if (start_leaves) {
    result.init = "split-and-merge";
    Matrix resp = *start_leaves;
    share_within_groups(common, resp);
    post = model.posteriors_from_leaves(resp);
    const MStepReport r = model.m_step(common, post);
    add_unique(result.warnings, r.warnings);
    reseed(r.collapsed, 0);
    initialise = false;
  }
  if (initialise && start_method(options_.init, model, restart) == InitMethod::ShortEm) {
    short_em_start(model, data, backend, restart, seed, result);
    initialise = false;
  }
  if (initialise) {
    const InitMethod method = start_method(options_.init, model, restart);
    result.init = to_string(method);
    // Lines need a continuous response and segments covariates (the gate's, else the
    // experts'); without them those starts fall back to random responsibilities.
    const bool lines = method == InitMethod::RandomLines && !model.experts().categorical();
    const bool segments = method == InitMethod::RandomSegments &&
                          (model.gates_read_covariates() || model.experts().reads_covariates());
    Matrix resp = lines ? random_lines(common.x, common.y, K, rng)
                  : segments
                      ? random_segments(common.x, common.y,
                                        model.gates_read_covariates() ? common.z : common.x, K, rng)
                      : initial_responsibilities(init_features(model, common), K,
                                                 method == InitMethod::RandomLines ||
                                                         method == InitMethod::RandomSegments
                                                     ? InitMethod::Random
                                                     : method,
                                                 options_.kmeans_iter, rng);
    share_within_groups(common, resp);
    const bool regression = model.experts().reads_covariates();
    const std::optional<Model> before = regression ? std::optional<Model>(model) : std::nullopt;
    post = model.posteriors_from_leaves(resp);
    MStepReport r = model.m_step(common, post);
    if (!r.collapsed.empty() && regression) {
      // A hard start gives each expert its own rows alone. A regression expert's rows can then
      // hold one value of a binary covariate (k-means on the covariates splits on them: a
      // singular design), or only zero counts (a Poisson or binomial fit without a maximum).
      // Before anything is re-seeded, the M-step runs again from the start's parameters with
      // every row given a share of kHardStartShare to the other experts: the start keeps its
      // partition, and every expert sees every row.
      model = *before;
      soften_responsibilities(resp, kHardStartShare);
      post = model.posteriors_from_leaves(resp);
      r = model.m_step(common, post);
    }
    add_unique(result.warnings, r.warnings);
    reseed(r.collapsed, 0);
  }
  backend.estep(model, data, post);
  double objective = post.objective;
  result.loglik_trace.push_back(objective);
  result.status = FitStatus::MaxIterations;
  result.stopping_rule = fmt::format("iteration cap {} reached", options_.max_iter);
  const Vector response_sd = moekit::response_sd(common);
  // A start that ends at a degenerate maximum re-seeds the degenerate components and goes on,
  // at most kDegenerateRounds times.
  constexpr int kDegenerateRounds = 2;
  int degenerate_rounds = 0;
  std::vector<Degenerate> degenerate;
  std::vector<Index> separated;  // experts at a supremum after the last M-step
  for (int it = 1; it <= options_.max_iter; ++it) {
    const MStepReport r = model.m_step(data, post);
    add_unique(result.warnings, r.warnings);
    separated = r.separated;
    const bool reseeded = reseed(r.collapsed, it);
    const double previous = objective;
    backend.estep(model, data, post);
    objective = post.objective;
    result.loglik_trace.push_back(objective);
    result.iterations = it;
    const double change = std::abs(objective - previous) / std::max(std::abs(objective), 1e-300);
    if (options_.on_iteration) {
      IterationInfo info{restart, options_.restarts, it, objective, change, seconds_since(t0)};
      if (!options_.on_iteration(info)) {
        result.status = FitStatus::Stopped;
        result.stopping_rule = "stopped by the caller";
        break;
      }
    }
    if (!reseeded && change <= options_.tol) {
      degenerate = degenerate_components(model, post, response_sd);
      // A re-seed needs iterations left to fit the re-seeded components.
      if (!degenerate.empty() && degenerate_rounds < kDegenerateRounds && it < options_.max_iter &&
          !model.experts().categorical()) {
        ++degenerate_rounds;
        std::vector<Index> ks;
        for (const auto& d : degenerate) ks.push_back(d.k);
        for (const auto& d : degenerate)
          result.warnings.push_back(
              fmt::format("component {} reached a degenerate maximum at iteration {} ({})", d.k + 1,
                          it, d.why));
        reseed(ks, it + 1, "was degenerate");
        // Moments are sums about the parameters of the E-step, which the re-seeding has just
        // replaced: the next M-step reads the posterior rows instead, where there are any;
        // where the E-step kept none (a constant gate's Gaussian mixture, a device backend),
        // the sums are taken again about the re-seeded parameters.
        if (post.has_rows())
          post.moments.reset();
        else
          backend.estep(model, data, post);
        continue;
      }
      result.status = FitStatus::Converged;
      result.stopping_rule =
          fmt::format("relative log-likelihood change {:.3g} <= tol {:.3g}", change, options_.tol);
      break;
    }
  }
  if (result.status != FitStatus::Converged)
    degenerate = degenerate_components(model, post, response_sd);
  if (!separated.empty() && result.status != FitStatus::Stopped) {
    result.status = FitStatus::Separation;
    result.stopping_rule =
        fmt::format("{}; expert {} is separated: the log-likelihood has a supremum, not a maximum",
                    result.stopping_rule, separated.front() + 1);
  }
  // An empty or degenerate component at the end is reported, never passed off as a
  // K-component fit (EM drives an unneeded component's weight to zero only geometrically, so
  // no collapse test fires; flexmix drops a component below minprior).
  for (const auto& d : degenerate) {
    result.degenerate.push_back(d.k);
    result.warnings.push_back(
        fmt::format("component {} is degenerate: {}; the data support fewer than K = {} "
                    "components here, or this start found a spurious maximum: try a smaller -k "
                    "or more --restarts",
                    d.k + 1, d.why, K));
  }
  backend.fetch(model, data, post);
  result.loglik = post.loglik;
  result.joint_loglik = model.joint() ? post.objective : 0.0;
  result.n_obs = static_cast<long>(n);
  result.n_params = static_cast<long>(model.num_params());
  result.aic = aic(objective, model.num_params());
  // Weighted rows count sum_i w_i (flexmix's nobs()); spread rows count on every process.
  const double n_obs = data.weighted() ? data.observations() : static_cast<double>(n);
  if (data.weighted()) result.weight_sum = n_obs;
  result.bic = bic(objective, model.num_params(), n_obs);
  const auto leaves = post.leaves();
  if (data.grouped()) {
    result.icl = icl(objective, model.num_params(), data, leaves);
  } else {
    double entropy = classification_entropy(leaves, data.weights);
    backend.sum_over_processes(&entropy, 1);
    result.icl = bic(objective, model.num_params(), n_obs) + 2.0 * entropy;
  }
  result.seconds = seconds_since(t0);
  return result;
}

void EmFitter::short_em_start(Model& model,
                              const Dataset& data,
                              const EStepBackend& backend,
                              int restart,
                              std::uint64_t seed,
                              FitResult& result) const {
  // Biernacki, Celeux & Govaert (2003), emEM: short runs from several candidates, and only
  // the best goes on. The candidates' streams derive from this start's, so a start is the
  // same whatever the other starts are.
  FitOptions o = options_;
  o.max_iter = options_.short_iter;
  o.restarts = 1;
  o.on_iteration = nullptr;
  const std::uint64_t base = derive_seed(seed, static_cast<std::uint64_t>(restart));
  Model best;
  FitResult chosen;
  bool have = false;
  std::string first_failure;
  for (int c = 0; c < options_.short_starts; ++c) {
    o.init = candidate_method(model, c);
    Model trial(model);
    try {
      FitResult r = EmFitter(o).run(trial, data, backend, c, base, true);
      // A candidate at a degenerate point loses to any proper one.
      const bool better =
          !have || (r.degenerate.empty() && !chosen.degenerate.empty()) ||
          (r.degenerate.empty() == chosen.degenerate.empty() && r.objective() > chosen.objective());
      if (better) {
        chosen = std::move(r);
        best = std::move(trial);
        have = true;
      }
    } catch (const NumericalError& e) {
      if (first_failure.empty()) first_failure = e.what();
    }
  }
  if (!have)
    throw NumericalError(
        fmt::format("every one of the {} short-EM candidates failed; the first: {}",
                    options_.short_starts, first_failure));
  model = std::move(best);
  result.init = fmt::format("short-em ({} of {})", chosen.init, options_.short_starts);
  add_unique(result.warnings, chosen.warnings);
}

void EmFitter::split_merge(Model& model,
                           const Dataset& data,
                           const EStepBackend& backend,
                           FitResult& best) const {
  // SMEM (Ueda et al. 2000): from a start's maximum, try the candidate moves in order and
  // keep the first that climbs higher; repeat from there until no move does.
  if (options_.split_merge <= 0 || model.components() < 3) return;
  const Dataset& common = backend.common_rows(data);
  const Matrix features = standardised_columns(init_features(model, common));
  // A move first runs kSplitMergeTrialIter EM iterations and goes on to convergence only
  // when it is already above the current maximum: most moves fall back into a lower basin,
  // and this keeps their cost at a few dozen iterations each.
  constexpr int kSplitMergeTrialIter = 30;
  FitOptions trial_options = options_;
  trial_options.restarts = 1;
  trial_options.max_iter = std::min(options_.max_iter, kSplitMergeTrialIter);
  // In a mixture of densities (no covariates in the experts or the gates) a trial is given
  // up as soon as Aitken's extrapolation of its log-likelihood (Bohning et al. 1994;
  // McNicholas et al. 2010) stays clearly below the current maximum on kAitkenChecks
  // iterations in a row while the increments shrink geometrically: such a move is converging
  // into a lower basin, and running it to the trial cap cost most of the search. Mixtures of
  // regressions are left to the cap: their EM crosses long plateaus after which the
  // increments grow again (mcycle's four lines), and the extrapolation misjudges them.
  constexpr int kAitkenFirst = 5, kAitkenChecks = 2;
  const bool extrapolate = !model.gates_read_covariates() && !model.experts().reads_covariates();
  std::vector<double> trial_trace;
  int below = 0;
  trial_options.on_iteration = [&](const IterationInfo& info) {
    if (!extrapolate) return true;
    trial_trace.push_back(info.loglik);
    const size_t t = trial_trace.size();
    if (t < 3 || info.iteration < kAitkenFirst) return true;
    const double a = trial_trace[t - 2] - trial_trace[t - 3],
                 b = trial_trace[t - 1] - trial_trace[t - 2];
    const double slack = std::max(1.0, 1e-6 * std::abs(best.objective()));
    const bool shrinking = a > 0.0 && b > 0.0 && b < 0.9 * a;
    const double limit = trial_trace[t - 2] + b / (1.0 - b / a);
    below = shrinking && limit < best.objective() - slack ? below + 1 : 0;
    return below < kAitkenChecks;
  };
  const EmFitter trial_fitter(trial_options);
  FitOptions finish_options = trial_options;
  finish_options.max_iter = options_.max_iter;
  finish_options.on_iteration = nullptr;
  const EmFitter finisher(finish_options);
  const std::string start_init = best.init;
  int tried = 0, accepted = 0, iterations = 0;
  // Each accepted move raises the maximum; the cap bounds the cost.
  const int max_rounds = static_cast<int>(2 * model.components());
  for (int round = 0; round < max_rounds; ++round) {
    Posteriors post;
    try {
      model.e_step(common, post);
    } catch (const NumericalError&) {
      break;
    }
    const auto moves =
        split_merge_moves(post.leaves(), post.row_loglik, features.cols(), options_.split_merge);
    // A move must reach a proper maximum higher than the current one by more than EM's
    // stopping noise (or replace a degenerate one), and never trade convergence for height.
    const double margin = 10.0 * options_.tol * std::abs(best.objective());
    auto higher = [&](const FitResult& r) {
      return !best.degenerate.empty() || r.objective() > best.objective() + margin;
    };
    bool improved = false;
    for (const SplitMergeMove& move : moves) {
      const Matrix start = split_merge_start(post.leaves(), features, move);
      Model trial(model);
      ++tried;
      trial_trace.clear();
      below = 0;
      try {
        FitResult r = trial_fitter.run(trial, data, backend, options_.restarts + tried,
                                       options_.seed, false, &start);
        iterations += r.iterations;
        if (r.status == FitStatus::MaxIterations && options_.max_iter > kSplitMergeTrialIter &&
            higher(r)) {
          r = finisher.run(trial, data, backend, options_.restarts + tried, options_.seed, false);
          iterations += r.iterations;
        }
        if (!higher(r) || !r.degenerate.empty() ||
            (r.status != FitStatus::Converged && r.status != best.status))
          continue;
        best = std::move(r);
        model = std::move(trial);
        improved = true;
        ++accepted;
        break;
      } catch (const NumericalError&) {
        // A move whose start cannot be fitted is simply not taken.
      }
    }
    if (!improved) break;
  }
  // The iterations and trace are those of EM after the last kept move; the start is still
  // named by how it began.
  best.init = start_init;
  best.split_merge_tried = tried;
  best.split_merge_accepted = accepted;
  best.split_merge_iterations = iterations;
}

FitResult EmFitter::fit(Model& model, const Dataset& data) const {
  model.spec().validate();
  model.check_data(data);
  std::vector<std::string> notes;
  const auto backend = make_backend({options_.device, options_.float32}, model, data, notes);
  return fit_with(model, data, *backend, notes);
}

FitResult EmFitter::fit(Model& model, const Dataset& data, const EStepBackend& backend) const {
  model.spec().validate();
  model.check_data(data);
  return fit_with(model, data, backend, {});
}

FitResult EmFitter::fit_with(Model& model,
                             const Dataset& data,
                             const EStepBackend& backend,
                             const std::vector<std::string>& notes) const {
  const auto t0 = Clock::now();
  ScopedNumThreads threads(options_.threads);
  FitResult best;
  Model best_model;
  bool have = false;
  std::vector<double> logliks;
  std::vector<double> moved_from;  // maxima that split-and-merge started from
  std::vector<std::string> failures;
  for (int r = 0; r < options_.restarts; ++r) {
    Model trial(model);
    try {
      FitResult res = run(trial, data, backend, r, options_.seed, true);
      // Starts that reach a maximum already seen would make the same moves from it.
      const double margin = 10.0 * options_.tol * std::abs(res.objective());
      const bool seen = std::any_of(moved_from.begin(), moved_from.end(), [&](double l) {
        return std::abs(l - res.objective()) <= margin;
      });
      if (!seen) {
        moved_from.push_back(res.objective());
        split_merge(trial, data, backend, res);
      }
      logliks.push_back(res.objective());
      // A start at a degenerate maximum never beats one at a proper maximum.
      const bool better =
          !have || (res.degenerate.empty() && !best.degenerate.empty()) ||
          (res.degenerate.empty() == best.degenerate.empty() && res.objective() > best.objective());
      if (better) {
        best = std::move(res);
        best.best_restart = r;
        best_model = std::move(trial);
        have = true;
      }
    } catch (const NumericalError& e) {
      logliks.push_back(std::numeric_limits<double>::quiet_NaN());
      failures.push_back(fmt::format("start {} failed: {}", r + 1, e.what()));
      if (options_.restarts == 1) throw;
    }
  }
  if (!have)
    throw NumericalError(fmt::format("every start failed; the first: {}", failures.front()));
  model = std::move(best_model);
  if (!best.degenerate.empty() && options_.restarts > 1)
    best.warnings.push_back(fmt::format(
        "every one of the {} starts ended at a degenerate maximum; this is the best of them",
        options_.restarts));
  best.restarts = options_.restarts;
  best.restart_logliks = logliks;
  best.backend = backend.name();
  best.warnings.insert(best.warnings.begin(), notes.begin(), notes.end());
  for (auto& f : failures) best.warnings.push_back(f);
  best.seconds = seconds_since(t0);
  return best;
}

FitResult EmFitter::start(Model& model, const Dataset& data, int restart) const {
  // The gradient method's warm-up: a few EM iterations on the CPU.
  return run(model, data, CpuBackend(), restart, options_.seed, true);
}

FitResult EmFitter::refine(Model& model, const Dataset& data) const {
  ScopedNumThreads threads(options_.threads);
  model.check_data(data);
  std::vector<std::string> notes;
  const auto backend = make_backend({options_.device, options_.float32}, model, data, notes);
  FitResult r = run(model, data, *backend, 0, options_.seed, false);
  r.backend = backend->name();
  r.warnings.insert(r.warnings.begin(), notes.begin(), notes.end());
  r.restarts = 1;
  r.restart_logliks = {r.objective()};
  return r;
}

}  // namespace moekit
