#include "moekit/infer/selection.hpp"

#include "moekit/core/covariance.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/fit/fit_model.hpp"
#include "moekit/fit/init.hpp"
#include "moekit/fit/lower_maxima.hpp"
#include "moekit/fit/small_component.hpp"
#include "moekit/fit/split_merge.hpp"
#include "moekit/model/posteriors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

namespace moekit {

std::string to_string(Criterion c) {
  switch (c) {
    case Criterion::Bic:
      return "bic";
    case Criterion::Icl:
      return "icl";
    case Criterion::Aic:
      return "aic";
  }
  return "bic";
}

Criterion parse_criterion(const std::string& name) {
  if (name == "bic") return Criterion::Bic;
  if (name == "icl") return Criterion::Icl;
  if (name == "aic") return Criterion::Aic;
  throw InputError::option("--criterion", name, "must be bic, icl or aic");
}

double criterion_value(const FitResult& fit, Criterion c) {
  return c == Criterion::Aic ? fit.aic : c == Criterion::Icl ? fit.icl : fit.bic;
}

std::string candidate_label(const ModelSpec& spec) {
  return spec.tree.empty() ? std::to_string(spec.K) : spec.shape().to_string();
}

std::vector<ModelSpec> specs_for_components(const ModelSpec& base, const std::vector<Index>& Ks) {
  std::vector<ModelSpec> out;
  for (Index K : Ks) {
    ModelSpec s = base;
    s.tree.clear();
    s.K = K;
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

// Candidates that differ only in their covariance structure share their starts (mclust starts
// every structure of a K from one hierarchical partition): each candidate's EM is run again
// from the posteriors of every other structure's fit with the same K (one M-step of its own
// structure on them, then EM), from its structure's K - 1 fit with each component split, from
// its structure's K + 1 fit with the six most overlapping pairs merged, and from its own fit by
// twice the fit's split-and-merge moves (fit/split_merge.hpp: a fit that a neighbour's start
// has moved into a new basin has not tried them there), keeping the better maximum, in rounds
// (at most 12) until no fit improves; starts with a most probable partition the candidate has
// run before are skipped. A structure whose own starts miss a basin that a neighbouring
// structure finds then reaches it (on faithful, most cells with K >= 3). In these first rounds
// the cells of a structure table also start from every other structure's K - 1 fit with each
// component split and K + 1 fit with its six most overlapping pairs merged (faithful's VVE cells
// at K >= 6 reach their best known maxima only through VVV's and other structures' fits). When no
// fit improves, the rounds go on (at most 12 more) with small-component starts added for the cells
// of a structure table: the structure's K - 1 fit with a new component on a window of rows that lie
// together in one response's order and that it explains poorly (fit/small_component.hpp),
// which neither a split nor a merge makes. When these stop improving too, rounds (at most 12)
// add replacement starts (each cell's own fit with its lightest component moved onto a window),
// windows of 12 rows, and small-component starts from the other structures' K - 1 fits. Then
// each cell tries split-and-merge moves from the best lower maxima its starts ran to (the
// lookahead). Each fit of such a table is then polished: EM goes on to a relative change of
// tol / 1000, since at tol a slowly converging cell can stop 1e-3 below its maximum, more than
// the table's structures differ by. A cell whose own start failed takes the same starts, the
// first that EM can fit becoming its fit. docs/math/covariance_structures.md, "The search".
bool share_starts(const SelectionCandidate& a, const SelectionCandidate& b) {
  return a.label == b.label && a.spec.covariance != b.spec.covariance &&
         a.spec.experts == b.spec.experts && a.spec.gate == b.spec.gate &&
         a.spec.gate_covariance == b.spec.gate_covariance;
}

// The rows' most probable components, renumbered in order of first appearance: fits that
// differ by a permutation of their components share the key.
std::vector<Index> partition_key(const ConstMatrixRef& leaves) {
  std::vector<Index> key(static_cast<size_t>(leaves.rows()));
  std::vector<Index> renumber(static_cast<size_t>(leaves.cols()), -1);
  Index next = 0;
  for (Index i = 0; i < leaves.rows(); ++i) {
    Index k = 0;
    leaves.row(i).maxCoeff(&k);
    Index& r = renumber[static_cast<size_t>(k)];
    if (r < 0) r = next++;
    key[static_cast<size_t>(i)] = r;
  }
  return key;
}

// Responsibilities of K + 1 components from a K-component fit's: component j's rows whose
// responses lie above its mean (summed over the responses) go to the new component
// (split_heaviest_component's rule, for every j in turn: mclust's hierarchical partitions are
// nested, each K's a split of the K - 1's).
Matrix split_component(const Model& model, const Dataset& data, const Matrix& leaves, Index j) {
  const Index K = leaves.cols();
  const Matrix mean = model.experts().predict_means(data.x)[static_cast<size_t>(j)];
  Matrix resp(leaves.rows(), K + 1);
  resp.leftCols(K) = leaves;
  resp.col(K).setZero();
  for (Index i = 0; i < leaves.rows(); ++i)
    if ((data.y.row(i) - mean.row(i)).sum() > 0) std::swap(resp(i, j), resp(i, K));
  return resp;
}

// Responsibilities of K components from a K + 1 fit's: the pair of columns `a` < `b` added
// into a (b's column dropped), the merge half of a split-and-merge move (Ueda et al. 2000).
Matrix merge_components(const Matrix& leaves, Index a, Index b) {
  const Index K1 = leaves.cols();
  Matrix resp(leaves.rows(), K1 - 1);
  for (Index k = 0, c = 0; k < K1; ++k) {
    if (k == b) continue;
    resp.col(c++) = k == a ? Vector(leaves.col(a) + leaves.col(b)) : Vector(leaves.col(k));
  }
  return resp;
}

// Responsibilities of K - 1 components from a K-component fit's: column `drop` taken out and
// each row's others renormalised (uniform where the row had all its mass on it).
Matrix without_component(const Matrix& leaves, Index drop) {
  const Index K = leaves.cols();
  Matrix rest(leaves.rows(), K - 1);
  for (Index k = 0, c = 0; k < K; ++k)
    if (k != drop) rest.col(c++) = leaves.col(k);
  for (Index r = 0; r < rest.rows(); ++r) {
    const double s = rest.row(r).sum();
    if (s > 1e-12)
      rest.row(r) /= s;
    else
      rest.row(r).setConstant(1.0 / static_cast<double>(K - 1));
  }
  return rest;
}

// The pairs of columns whose posteriors overlap most (the cosine of eq. 4.1 of Ueda et al.
// 2000), best first, at most `limit`.
std::vector<std::pair<Index, Index>> merge_pairs(const Matrix& leaves, size_t limit) {
  const Index K = leaves.cols();
  const Vector norms = leaves.colwise().norm().transpose();
  std::vector<std::tuple<double, Index, Index>> ranked;
  for (Index a = 0; a < K; ++a)
    for (Index b = a + 1; b < K; ++b)
      ranked.emplace_back(-leaves.col(a).dot(leaves.col(b)) / std::max(norms(a) * norms(b), 1e-300),
                          a, b);
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::pair<Index, Index>> out;
  for (size_t i = 0; i < std::min(limit, ranked.size()); ++i)
    out.emplace_back(std::get<1>(ranked[i]), std::get<2>(ranked[i]));
  return out;
}

bool grows_into(const SelectionCandidate& small, const SelectionCandidate& big) {
  return small.spec.tree.empty() && big.spec.tree.empty() && small.spec.K + 1 == big.spec.K &&
         small.spec.covariance == big.spec.covariance && small.spec.experts == big.spec.experts &&
         small.spec.gate == big.spec.gate && small.spec.gate_covariance == big.spec.gate_covariance;
}

// Another structure's fit with one component fewer or one more, of the same experts and gate.
bool neighbours_across_structures(const SelectionCandidate& donor, const SelectionCandidate& c) {
  return donor.spec.tree.empty() && c.spec.tree.empty() &&
         donor.spec.covariance != c.spec.covariance && donor.spec.experts == c.spec.experts &&
         donor.spec.gate == c.spec.gate && donor.spec.gate_covariance == c.spec.gate_covariance &&
         (donor.spec.K + 1 == c.spec.K || donor.spec.K == c.spec.K + 1);
}

void seed_across_structures(Selection& out,
                            const Dataset& data,
                            const FitOptions& options,
                            int beam_width) {
  if (options.method != FitMethod::Em) return;
  FitOptions refine_options = options;
  refine_options.on_iteration = nullptr;
  const EmFitter fitter(refine_options);
  FitOptions screen_options = refine_options;
  screen_options.max_iter = 15;
  const EmFitter screener(screen_options);
  constexpr double kScreenMargin = 5.0;
  const size_t n = out.candidates.size();
  // Starts each candidate has run (by partition_key), so that the many structures that reach
  // the same partition give one start, and a round only runs the starts that are new.
  std::vector<std::set<std::vector<Index>>> tried(n);
  // The partitions each candidate's EM runs have arrived at (its fits, and the screens and
  // ends of the starts run to convergence): a start whose screen has the partition of one of
  // these is on a path EM has already followed, and is dropped.
  std::vector<std::set<std::vector<Index>>> arrived(n);
  // Why a cell's own start failed and where its search began instead, for its warnings.
  std::vector<std::string> rescued(n);
  // The best proper maxima below each cell's fit that its starts ran to (fit/lower_maxima.hpp),
  // for the lookahead stage below. A start is kept only when it climbs at once; these are where
  // the rest arrived. They are told apart by value as well as by partition: on faithful,
  // EVV 7's twelve held four pairs of one maximum's partitions, and with room for other
  // maxima the lookahead raised VVV 8 and 9.
  constexpr size_t kRunnersUp = 12;
  std::vector<LowerMaxima> runners_up(n, LowerMaxima(kRunnersUp));
  auto score_norm = [&](const Model& model) -> std::optional<double> {
    Vector score;
    try {
      model.loglik_and_score(data, score);
      if (score.allFinite()) return score.norm();
    } catch (const InputError&) {
      // The coupled structures have no unconstrained parametrisation (fit_model.cpp).
    }
    return std::nullopt;
  };
  // EM from responsibilities `leaves` for candidate i; true when it reached a better maximum.
  // A degenerate result is refused where the candidate's fit is proper, and always when
  // `never_degenerate`.
  auto try_start = [&](size_t i, const Matrix& leaves, const std::string& how,
                       bool never_degenerate = false) {
    SelectionCandidate& c = out.candidates[i];
    if (!tried[i].insert(partition_key(leaves)).second) return false;
    try {
      Model model(c.spec, data.y.cols(), data.x.cols(), data.z.cols());
      model.m_step(data, model.posteriors_from_leaves(leaves));
      // A short EM run first: a start still well below the candidate's maximum after it is
      // dropped (emEM's screening, Biernacki, Celeux & Govaert 2003), and so is one whose
      // partition after it is one the candidate's EM has arrived at before.
      const FitResult screen = screener.refine(model, data);
      if (c.fit && screen.objective() < c.fit->objective() - kScreenMargin) return false;
      Posteriors post;
      model.e_step(data, post);
      std::vector<Index> screened_key = partition_key(post.leaves());
      if (arrived[i].count(screened_key)) return false;
      FitResult r = fitter.refine(model, data);
      r.iterations += screen.iterations;
      model.e_step(data, post);
      std::vector<Index> end_key = partition_key(post.leaves());
      arrived[i].insert(end_key);
      arrived[i].insert(std::move(screened_key));
      if (!r.degenerate.empty() && never_degenerate) return false;
      if (c.fit) {
        // Better by more than EM's stopping rule can account for, and no worse in kind.
        const double margin = 10.0 * options.tol * std::abs(c.fit->objective());
        if (r.objective() <= c.fit->objective() + margin) {
          if (r.degenerate.empty() && r.status == FitStatus::Converged &&
              r.objective() < c.fit->objective() - margin)
            runners_up[i].add(r.objective(), margin, std::move(end_key), post.leaves(),
                              post.row_loglik);
          return false;
        }
        if (!r.degenerate.empty() && c.fit->degenerate.empty()) return false;
        r.method = c.fit->method;
        r.restarts = c.fit->restarts + 1;
        r.restart_logliks = c.fit->restart_logliks;
        r.seconds += c.fit->seconds;
      } else {
        // The cell's own starts failed (every component kept collapsing under its
        // structure): a start from another cell's fit gives it one, as mclust's table has a
        // value wherever its one hierarchical start can be fitted.
        r.restart_logliks.clear();
        rescued[i] =
            fmt::format("its own start failed ({}); its search began from {}", c.error, how);
        c.error.clear();
      }
      r.init = how;
      r.restart_logliks.push_back(r.objective());
      r.best_restart = static_cast<int>(r.restart_logliks.size()) - 1;
      r.gradient_norm = score_norm(model);
      c.fit = std::move(r);
      c.model = std::move(model);
      return true;
    } catch (const NumericalError&) {
      return false;  // that start collapses under this structure; the candidate keeps its fit
    }
  };
  constexpr int kMaxRounds = 12;
  constexpr size_t kMergePairs = 6;
  const int moves = 2 * options.split_merge;
  // The cells of a structure table (candidates that share their starts): the
  // small-component moves and the polish are for these.
  std::vector<bool> in_table(n, false);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (share_starts(out.candidates[i], out.candidates[j])) in_table[i] = true;
  // Small-component starts (fit/small_component.hpp) for candidate i from its structure's
  // K - 1 fit: windows of kWindowRows rows, the kGainWindows best by gain and then the
  // kLoglikWindows worst explained per response, the first that climbs kept (as a
  // split-and-merge move). A result with a degenerate component is never taken, even where the
  // cell's own fit is degenerate: a window of a few rows is where EM finds such maxima, and one
  // would take the cell's place only by the likelihood's unboundedness.
  constexpr Index kWindowRows = 6;
  constexpr int kGainWindows = 3;
  constexpr int kLoglikWindows = 10;
  constexpr int kSmallComponentRounds = 12;
  // In the last rounds (`wide`), also windows of kWideRows rows, the kLoglikWindows worst
  // explained per response.
  constexpr Index kWideRows = 12;
  // The windows per response on every other structure's K - 1 fit in those rounds: a second
  // one reaches faithful's VVE 6..8 best known proper maxima (a VEE or VVV K - 1 fit with a
  // window), which the best window alone misses by 1.1 to 5.1.
  constexpr int kCrossWindows = 2;
  bool wide = false;
  // In the first rounds (`cross`), the cells of a structure table also start from every other
  // structure's K - 1 fit with each component split and K + 1 fit with its kMergePairs most
  // overlapping pairs merged.
  bool cross = true;
  // Starts for candidate i from `base` (posteriors of K - 1 components) with a new component
  // on each window in turn, ranked on `row_loglik`: the gain windows, the log-likelihood
  // windows, and in the last rounds the wide ones; the first that climbs is kept.
  // describe(rows, response) names the start.
  auto try_window_starts = [&](size_t i, const Matrix& base, const Vector& row_loglik,
                               const auto& describe) {
    auto try_windows = [&](WindowRanking ranking, int count, Index rows) {
      for (const SmallComponentWindow& w :
           small_component_windows(data.y, row_loglik, rows, count, ranking))
        if (try_start(i, small_component_start(base, w), describe(rows, w.column + 1),
                      /*never_degenerate=*/true))
          return true;
      return false;
    };
    return try_windows(WindowRanking::Gain, kGainWindows, kWindowRows) ||
           try_windows(WindowRanking::Loglik, kLoglikWindows, kWindowRows) ||
           (wide && try_windows(WindowRanking::Loglik, kLoglikWindows, kWideRows));
  };
  auto try_small_component = [&](size_t i, Index donor_K, const Matrix& donor_leaves,
                                 const Vector& donor_row_loglik) {
    return try_window_starts(i, donor_leaves, donor_row_loglik, [&](Index rows, Index response) {
      return fmt::format(
          "the K = {} fit with a new component on {} neighbouring rows of "
          "response {}",
          donor_K, rows, response);
    });
  };
  // Replacement starts (after the small-component rounds stop) for candidate i from its own
  // fit: its lightest component taken out (its rows' responsibilities renormalised over the
  // others) and a new component given a window, ranked on the fit's own rows' log-likelihood,
  // as above; the first that climbs is kept. A K - 1 fit with a window adds a component where
  // the cell's own fit may already hold a small one elsewhere; this moves it.
  auto try_replace_component = [&](size_t i, const Matrix& own_leaves,
                                   const Vector& own_row_loglik) {
    const Index K = own_leaves.cols();
    if (K < 2) return false;
    Index drop = 0;
    own_leaves.colwise().sum().minCoeff(&drop);
    return try_window_starts(
        i, without_component(own_leaves, drop), own_row_loglik, [&](Index rows, Index response) {
          return fmt::format(
              "its own fit with component {} replaced by a new component on {} "
              "neighbouring rows of response {}",
              drop + 1, rows, response);
        });
  };
  // One cell's starts in a round (run_round below): its own split-and-merge moves, the starts
  // from the other cells' snapshot, and the small-component and replacement starts; true when
  // the cell reached a better maximum.
  auto improve_cell = [&](size_t i, bool small_components, bool replace,
                          const std::vector<std::optional<Matrix>>& leaves,
                          const std::vector<Vector>& row_loglik) {
    bool improved = false;
    if (leaves[i] && leaves[i]->cols() >= 3 && moves > 0) {
      // As EmFitter's split-and-merge: the first move that climbs is kept.
      const Matrix features = standardised_columns(init_features(*out.candidates[i].model, data));
      for (const SplitMergeMove& move :
           split_merge_moves(*leaves[i], row_loglik[i], features.cols(), moves))
        if (try_start(i, split_merge_start(*leaves[i], features, move),
                      "its own fit with a split-and-merge move")) {
          improved = true;
          break;
        }
    }
    for (size_t j = 0; j < n; ++j) {
      const SelectionCandidate& donor = out.candidates[j];
      if (!leaves[j]) continue;
      if (share_starts(out.candidates[i], donor))
        improved |= try_start(i, *leaves[j],
                              "the " + mclust_name(donor.spec.covariance) + " fit's posteriors");
      else if (grows_into(donor, out.candidates[i]))
        for (Index k = 0; k < donor.spec.K; ++k)
          improved |=
              try_start(i, split_component(*donor.model, data, *leaves[j], k),
                        fmt::format("the K = {} fit with component {} split", donor.spec.K, k + 1));
      else if (grows_into(out.candidates[i], donor))
        for (const auto& [a, b] : merge_pairs(*leaves[j], kMergePairs))
          improved |= try_start(i, merge_components(*leaves[j], a, b),
                                fmt::format("the K = {} fit with components {} and {} merged",
                                            donor.spec.K, a + 1, b + 1));
      if (small_components && in_table[i] && grows_into(donor, out.candidates[i]))
        improved |= try_small_component(i, donor.spec.K, *leaves[j], row_loglik[j]);
      else if (replace && in_table[i] && in_table[j] &&
               donor.spec.K + 1 == out.candidates[i].spec.K &&
               donor.spec.covariance != out.candidates[i].spec.covariance &&
               donor.spec.experts == out.candidates[i].spec.experts &&
               donor.spec.gate == out.candidates[i].spec.gate &&
               donor.spec.gate_covariance == out.candidates[i].spec.gate_covariance)
        // In the last rounds, every other structure's K - 1 fit too, with its
        // kCrossWindows best windows by gain per response.
        for (const SmallComponentWindow& w : small_component_windows(
                 data.y, row_loglik[j], kWindowRows, kCrossWindows, WindowRanking::Gain))
          if (try_start(i, small_component_start(*leaves[j], w),
                        fmt::format("the {} K = {} fit with a new component on {} "
                                    "neighbouring rows of response {}",
                                    mclust_name(donor.spec.covariance), donor.spec.K, kWindowRows,
                                    w.column + 1),
                        /*never_degenerate=*/true)) {
            improved = true;
            break;
          }
    }
    if (replace && in_table[i] && leaves[i])
      improved |= try_replace_component(i, *leaves[i], row_loglik[i]);
    if (cross && in_table[i])
      for (size_t j = 0; j < n; ++j) {
        const SelectionCandidate& donor = out.candidates[j];
        if (!leaves[j] || !in_table[j] || !neighbours_across_structures(donor, out.candidates[i]))
          continue;
        const std::string structure = mclust_name(donor.spec.covariance);
        if (donor.spec.K + 1 == out.candidates[i].spec.K)
          for (Index k = 0; k < donor.spec.K; ++k)
            improved |= try_start(i, split_component(*donor.model, data, *leaves[j], k),
                                  fmt::format("the {} K = {} fit with component {} split",
                                              structure, donor.spec.K, k + 1));
        else
          for (const auto& [a, b] : merge_pairs(*leaves[j], kMergePairs))
            improved |= try_start(i, merge_components(*leaves[j], a, b),
                                  fmt::format("the {} K = {} fit with components {} and {} merged",
                                              structure, donor.spec.K, a + 1, b + 1));
      }
    return improved;
  };
  // The cells of a round run in waves of equal K, in increasing K, and the cells of a wave as
  // parallel tasks. A cell reads the posteriors and row log-likelihoods of the others as the
  // round began, and the models of the cells with one component fewer (their components' means
  // for the splits), which the waves before have finished: as when the cells ran one by one in
  // the candidates' order (K by K), so the search's path, and every result, is the same for
  // any number of threads. A cell writes only its own fit and its own sets of partitions. A
  // device backend runs the cells one by one.
  const bool serial_cells = options.device != Device::Cpu;
  std::vector<std::vector<size_t>> waves;
  {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return out.candidates[a].spec.K < out.candidates[b].spec.K;
    });
    for (size_t i : order) {
      if (waves.empty() || out.candidates[waves.back().front()].spec.K != out.candidates[i].spec.K)
        waves.emplace_back();
      waves.back().push_back(i);
    }
  }
  // Every cell's posteriors and row log-likelihoods as a stage begins (the cells read each
  // other's from these), its partition recorded as started from and arrived at.
  auto snapshot = [&](std::vector<std::optional<Matrix>>& leaves, std::vector<Vector>& row_loglik) {
    leaves.assign(n, std::nullopt);
    row_loglik.assign(n, Vector());
    parallel_tasks(
        static_cast<Index>(n),
        [&](Index t) {
          const size_t i = static_cast<size_t>(t);
          if (!out.candidates[i].model) return;
          try {
            Posteriors post;
            out.candidates[i].model->e_step(data, post);
            leaves[i] = post.leaves();
            row_loglik[i] = post.row_loglik;
            tried[i].insert(partition_key(*leaves[i]));
            arrived[i].insert(partition_key(*leaves[i]));
          } catch (const NumericalError&) {
            leaves[i].reset();
          }
        },
        serial_cells);
  };
  auto run_round = [&](bool small_components, bool replace = false) {
    std::vector<std::optional<Matrix>> leaves;
    std::vector<Vector> row_loglik;
    snapshot(leaves, row_loglik);
    std::vector<char> improved_cell(n, 0);
    for (const std::vector<size_t>& wave : waves)
      parallel_tasks(
          static_cast<Index>(wave.size()),
          [&](Index t) {
            const size_t i = wave[static_cast<size_t>(t)];
            improved_cell[i] = improve_cell(i, small_components, replace, leaves, row_loglik);
          },
          serial_cells);
    return std::any_of(improved_cell.begin(), improved_cell.end(), [](char c) { return c != 0; });
  };
  for (int round = 0; round < kMaxRounds; ++round)
    if (!run_round(false)) break;
  cross = false;
  for (int round = 0; round < kSmallComponentRounds; ++round)
    if (!run_round(true)) break;
  // Last, replacement starts and the wider windows, in rounds of their own: what the rounds
  // above reached is kept (a cell only climbs), and these start from there.
  wide = true;
  for (int round = 0; round < kSmallComponentRounds; ++round)
    if (!run_round(true, true)) break;
  // The lookahead: each cell of a structure table tries the kLookaheadMoves best
  // split-and-merge moves from each of its runners-up, keeping any start that climbs above its
  // fit. The rounds keep a start only when it climbs at once, and a cell's best maximum can lie
  // a move or a few beyond lower ones: while no start climbs, a pass takes the runners-up the
  // passes before have added (the maxima their moves reached), kLookaheadPasses in all. On
  // faithful one pass reaches VVE 9 and VEV 9's best known maxima (a window start, then a
  // move) and raised VEE 7's; the third raised VVV 6..8's and reaches VVV 9's. A cell reads only
  // its own runners-up: the cells are parallel tasks. When one improves, the rounds go on from
  // there.
  {
    constexpr size_t kLookaheadMoves = 40;
    constexpr int kLookaheadPasses = 3;
    std::vector<char> improved_cell(n, 0);
    std::vector<std::set<std::vector<Index>>> expanded(n);
    parallel_tasks(
        static_cast<Index>(n),
        [&](Index t) {
          const size_t i = static_cast<size_t>(t);
          if (!in_table[i] || !out.candidates[i].model) return;
          const Matrix features =
              standardised_columns(init_features(*out.candidates[i].model, data));
          for (int pass = 0; pass < kLookaheadPasses && !improved_cell[i]; ++pass) {
            // A copy: the lookahead's own starts add runners-up.
            const std::vector<LowerMaximum> list = runners_up[i].entries();
            for (const LowerMaximum& r : list) {
              if (r.leaves.cols() < 3) break;
              if (!expanded[i].insert(r.key).second) continue;
              for (const SplitMergeMove& move :
                   split_merge_moves(r.leaves, r.row_loglik, features.cols(), kLookaheadMoves))
                if (try_start(i, split_merge_start(r.leaves, features, move),
                              "a split-and-merge move from a lower maximum"))
                  improved_cell[i] = 1;
            }
          }
        },
        serial_cells);
    if (std::any_of(improved_cell.begin(), improved_cell.end(), [](char c) { return c != 0; }))
      for (int round = 0; round < kSmallComponentRounds; ++round)
        if (!run_round(true, true)) break;
  }
  // The beam search over maxima (beam_width > 0), for the cells of a structure table. The
  // rounds above keep a start only when it climbs at once; a cell's best known maximum can lie
  // beyond maxima below its fit (faithful's VVI 9: a window start, three split-and-merge moves,
  // a replacement and a fourth move, through two maxima lower than the one before). Each cell
  // keeps the beam_width best distinct maxima without a degenerate component, seeded with its
  // fit, the other structures' fits of its K and every structure's K - 1 fit with a new
  // component on a window (kBeamSeedWindows per response and ranking), and expands each with
  // its kBeamMoves best split-and-merge moves and with each component replaced by a window (the
  // best by gain per response), until the beam stops changing. A cell reads the others' fits
  // as this stage began and writes only its own: the cells are parallel tasks, and the result
  // does not depend on the thread count.
  if (beam_width > 0) {
    constexpr Index kBeamWindowRows = 6;
    constexpr int kBeamSeedWindows = 10;
    constexpr int kBeamMoves = 40;
    constexpr int kBeamLevels = 30;
    std::vector<std::optional<Matrix>> leaves;
    std::vector<Vector> row_loglik;
    snapshot(leaves, row_loglik);
    struct Node {
      double objective = 0.0;
      Model model;
      FitResult fit;
      Matrix leaves;
      Vector row_loglik;
      std::string how;
      int steps = 0;
    };
    auto beam_cell = [&](size_t i) {
      SelectionCandidate& c = out.candidates[i];
      if (!in_table[i] || !leaves[i] || !c.fit) return;
      const auto t0 = std::chrono::steady_clock::now();
      const Index K = c.spec.K;
      std::set<std::vector<Index>> started, reached;
      // EM from `start` to a maximum, kept in `into` unless degenerate or reached before.
      auto climb = [&](const Matrix& start, std::vector<Node>& into, const std::string& how,
                       int steps) {
        if (!started.insert(partition_key(start)).second) return;
        try {
          Model model(c.spec, data.y.cols(), data.x.cols(), data.z.cols());
          model.m_step(data, model.posteriors_from_leaves(start));
          FitResult r = fitter.refine(model, data);
          if (!r.degenerate.empty()) return;
          Posteriors post;
          model.e_step(data, post);
          if (!reached.insert(partition_key(post.leaves())).second) return;
          const double objective = r.objective();
          into.push_back(Node{objective, std::move(model), std::move(r), post.leaves(),
                              post.row_loglik, how, steps});
        } catch (const NumericalError&) {
          // This start collapses under the cell's structure.
        }
      };
      std::vector<Node> beam;
      if (c.fit->degenerate.empty()) {
        started.insert(partition_key(*leaves[i]));
        reached.insert(partition_key(*leaves[i]));
        beam.push_back(
            Node{c.fit->objective(), *c.model, *c.fit, *leaves[i], row_loglik[i], "its fit", 0});
      }
      for (size_t j = 0; j < n; ++j) {
        const SelectionCandidate& donor = out.candidates[j];
        if (!leaves[j] || !in_table[j] || j == i) continue;
        if (share_starts(c, donor))
          climb(*leaves[j], beam, "the " + mclust_name(donor.spec.covariance) + " fit's posteriors",
                0);
      }
      for (size_t j = 0; j < n; ++j) {
        const SelectionCandidate& donor = out.candidates[j];
        if (!leaves[j] || !in_table[j] || donor.spec.K + 1 != K ||
            donor.spec.experts != c.spec.experts || donor.spec.gate != c.spec.gate ||
            donor.spec.gate_covariance != c.spec.gate_covariance)
          continue;
        for (WindowRanking ranking : {WindowRanking::Gain, WindowRanking::Loglik})
          for (const SmallComponentWindow& w : small_component_windows(
                   data.y, row_loglik[j], kBeamWindowRows, kBeamSeedWindows, ranking))
            climb(small_component_start(*leaves[j], w), beam,
                  fmt::format("the {} K = {} fit with a new component on {} neighbouring rows of "
                              "response {}",
                              mclust_name(donor.spec.covariance), donor.spec.K, kBeamWindowRows,
                              w.column + 1),
                  0);
      }
      // Best first; equal values keep the order they were found in.
      auto keep_best = [&](std::vector<Node>& nodes) {
        std::stable_sort(nodes.begin(), nodes.end(),
                         [](const Node& a, const Node& b) { return a.objective > b.objective; });
        if (nodes.size() > static_cast<size_t>(beam_width))
          nodes.erase(nodes.begin() + beam_width, nodes.end());
      };
      keep_best(beam);
      for (int level = 0; level < kBeamLevels && !beam.empty(); ++level) {
        std::vector<Node> next;
        for (const Node& node : beam) {
          if (K >= 3) {
            const Matrix features = standardised_columns(init_features(node.model, data));
            for (const SplitMergeMove& move :
                 split_merge_moves(node.leaves, node.row_loglik, features.cols(), kBeamMoves))
              climb(split_merge_start(node.leaves, features, move), next, node.how, node.steps + 1);
          }
          for (Index drop = 0; drop < K && K >= 2; ++drop) {
            const Matrix rest = without_component(node.leaves, drop);
            for (const SmallComponentWindow& w : small_component_windows(
                     data.y, node.row_loglik, kBeamWindowRows, 1, WindowRanking::Gain))
              climb(small_component_start(rest, w), next, node.how, node.steps + 1);
          }
        }
        if (next.empty()) break;
        std::vector<double> before;
        for (const Node& node : beam) before.push_back(node.objective);
        for (Node& node : next) beam.push_back(std::move(node));
        keep_best(beam);
        std::vector<double> after;
        for (const Node& node : beam) after.push_back(node.objective);
        if (after == before) break;
      }
      if (beam.empty()) return;
      Node& best = beam.front();
      const double margin = 10.0 * options.tol * std::abs(c.fit->objective());
      if (best.objective <= c.fit->objective() + margin) return;
      FitResult r = std::move(best.fit);
      r.method = c.fit->method;
      r.restarts = c.fit->restarts + 1;
      r.init = fmt::format("a beam search of width {} from {}, then {} move{}", beam_width,
                           best.how, best.steps, best.steps == 1 ? "" : "s");
      r.restart_logliks = c.fit->restart_logliks;
      r.restart_logliks.push_back(r.objective());
      r.best_restart = static_cast<int>(r.restart_logliks.size()) - 1;
      r.seconds = c.fit->seconds +
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      r.gradient_norm = score_norm(best.model);
      c.fit = std::move(r);
      c.model = std::move(best.model);
    };
    parallel_tasks(
        static_cast<Index>(n), [&](Index t) { beam_cell(static_cast<size_t>(t)); }, serial_cells);
  }
  FitOptions polish_options = refine_options;
  polish_options.tol = options.tol / 1000.0;
  const EmFitter polisher(polish_options);
  // Each cell's polish reads and writes that cell alone: parallel tasks, as the rounds' cells.
  parallel_tasks(
      static_cast<Index>(n),
      [&](Index t) {
        SelectionCandidate& c = out.candidates[static_cast<size_t>(t)];
        if (!c.model || !c.fit || c.fit->status != FitStatus::Converged) return;
        if (!in_table[static_cast<size_t>(t)]) return;
        try {
          const auto t0 = std::chrono::steady_clock::now();
          Model model = *c.model;
          const FitResult r = polisher.refine(model, data);
          if (r.status != FitStatus::Converged || r.objective() < c.fit->objective() ||
              (!r.degenerate.empty() && c.fit->degenerate.empty()))
            return;
          FitResult& f = *c.fit;
          f.loglik = r.loglik;
          f.joint_loglik = r.joint_loglik;
          f.aic = r.aic;
          f.bic = r.bic;
          f.icl = r.icl;
          f.iterations += r.iterations;
          f.loglik_trace.insert(f.loglik_trace.end(), r.loglik_trace.begin(), r.loglik_trace.end());
          f.stopping_rule = r.stopping_rule + " (select's polish)";
          f.degenerate = r.degenerate;
          if (f.best_restart >= 0 && static_cast<size_t>(f.best_restart) < f.restart_logliks.size())
            f.restart_logliks[static_cast<size_t>(f.best_restart)] = r.objective();
          f.gradient_norm = score_norm(model);
          f.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          c.model = std::move(model);
        } catch (const NumericalError&) {
          // The polish collapsed under this structure: the cell keeps its converged fit.
        }
      },
      serial_cells);
  for (size_t i = 0; i < n; ++i)
    if (!rescued[i].empty() && out.candidates[i].fit)
      out.candidates[i].fit->warnings.insert(out.candidates[i].fit->warnings.begin(), rescued[i]);
}

}  // namespace

Selection select_model(const std::vector<ModelSpec>& specs,
                       const Dataset& data,
                       const SelectionOptions& options) {
  if (specs.empty()) throw InputError("select_model: no candidate models");
  Selection out;
  out.criterion = options.criterion;
  for (const ModelSpec& spec : specs) {
    SelectionCandidate c;
    c.spec = spec;
    c.label = candidate_label(spec);
    for (const auto& other : out.candidates)
      if (other.label == c.label && other.spec.covariance == c.spec.covariance)
        throw InputError(fmt::format("select_model: the candidate {} is listed twice", c.label));
    out.candidates.push_back(std::move(c));
  }
  for (size_t i = 0; i < out.candidates.size(); ++i) {
    SelectionCandidate& c = out.candidates[i];
    const Index K = c.spec.K;
    Model model(c.spec, data.y.cols(), data.x.cols(), data.z.cols());
    FitOptions fit_options = options.fit;
    try {
      if (data.rows() < K)
        throw NumericalError(
            fmt::format("{} rows cannot be split into {} components", data.rows(), K));
      if (options.progress) fit_options.on_iteration = options.progress(c);
      c.fit = fit_model(model, data, fit_options);
      c.model = std::move(model);
    } catch (const NumericalError& e) {
      c.error = e.what();
    } catch (const InputError& e) {
      if (i == 0) throw;  // the data or the options are wrong, not this K
      c.error = e.what();
    }
    // Ends this candidate's progress line before the next one starts.
    fit_options.on_iteration = nullptr;
  }
  seed_across_structures(out, data, options.fit, options.beam_width);
  // A fit with a degenerate component (fit/degenerate.hpp) is a spurious maximum, whose
  // criterion the likelihood's unboundedness raises (McLachlan & Peel 2000, 3.10): the choice is
  // the best proper fit, and a degenerate one only when no candidate has a proper fit.
  bool have = false;
  for (const bool proper_only : {true, false}) {
    for (size_t i = 0; i < out.candidates.size(); ++i) {
      const SelectionCandidate& c = out.candidates[i];
      if (!c.fit || (proper_only && !c.fit->degenerate.empty())) continue;
      if (!have || criterion_value(*c.fit, options.criterion) <
                       criterion_value(out.best_fit(), options.criterion)) {
        out.best = i;
        have = true;
      }
    }
    if (have) break;
  }
  if (!have)
    throw NumericalError(fmt::format("no model could be fitted; {}: {}",
                                     out.candidates.front().label, out.candidates.front().error));
  return out;
}

}  // namespace moekit
