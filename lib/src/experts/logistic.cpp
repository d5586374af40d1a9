#include "moekit/experts/logistic.hpp"

#include "moekit/core/column_variances.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/stats/weighted_least_squares.hpp"
#include "moekit/stats/weighted_multinomial.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

namespace {

Index class_code(double v, Index L, Index row) {
  // v + 0.5 truncated rounds a non-negative v as lround does, without its libm call (this
  // runs once per row in every E- and M-step).
  const bool in_range = v >= 0.0 && v < static_cast<double>(L);
  const auto c = in_range ? static_cast<Index>(v + 0.5) : Index{0};
  if (!in_range || c >= L || std::abs(v - static_cast<double>(c)) > 1e-9)
    throw InputError(
        fmt::format("logistic experts: row {} has class code {}, expected an integer in 0..{}",
                    row + 1, v, L - 1));
  return c;
}

}  // namespace

LogisticExperts::LogisticExperts(Index K, Index L, Index p, std::vector<std::string> x_names)
    : L_(L),
      p_(p),
      coef_(static_cast<size_t>(K), Matrix::Zero(p, L - 1)),
      separated_(static_cast<size_t>(K), false),
      x_names_(std::move(x_names)) {
  if (K < 1 || p < 1) throw InputError("logistic experts need K >= 1 and at least one covariate");
  if (L < 2) throw InputError("logistic experts need class labels with at least two levels");
}

void LogisticExperts::set_coefficients(Index k, const Matrix& W) {
  if (W.rows() != p_ || W.cols() != L_ - 1)
    throw Error("LogisticExperts::set_coefficients: shape mismatch");
  coef_[static_cast<size_t>(k)] = W;
}

void LogisticExperts::log_density(const ConstMatrixRef& x,
                                  const ConstMatrixRef& y,
                                  MatrixRef out) const {
  thread_local Matrix lp;
  lp.resize(x.rows(), L_);
  for (Index k = 0; k < components(); ++k) {
    multinomial_log_probs(x, coef_[static_cast<size_t>(k)], lp);
    for (Index i = 0; i < x.rows(); ++i) out(i, k) = lp(i, class_code(y(i, 0), L_, i));
  }
}

Matrix LogisticExperts::targets(const ConstMatrixRef& y, const ConstVectorRef& r) const {
  // Per row block on the threads: a serial pass here was a fixed share of every M-step that
  // the second thread could not take. Each entry is written once: the same matrix.
  Matrix T(y.rows(), L_);
  parallel_blocks(y.rows(), [&](Index, Index begin, Index size) {
    T.middleRows(begin, size).setZero();
    for (Index i = begin; i < begin + size; ++i) T(i, class_code(y(i, 0), L_, i)) = r(i);
  });
  return T;
}

Vector LogisticExperts::column_sd(const ConstMatrixRef& x) const {
  // Over all the rows when processes share them (core/process_sums.hpp).
  return column_variances(x, /*over_processes=*/true).cwiseSqrt();
}

MStepReport LogisticExperts::fit(const ConstMatrixRef& x,
                                 const ConstMatrixRef& y,
                                 const ConstMatrixRef& resp) {
  const Index K = components();
  if (x.cols() != p_ || y.cols() != 1 || resp.cols() != K || x.rows() != y.rows())
    throw Error("LogisticExperts::fit: shape mismatch");
  MStepReport report;
  check_design_rank_of(x, x_names_, "logistic experts");
  const Vector sd = column_sd(x);
  for (Index k = 0; k < K; ++k) {
    const double Nk = summed_over_processes(resp.col(k).sum());
    // An empty expert (no weight left at all) is re-seeded; a light one is still a valid
    // weighted fit (Newton's jitter covers an ill-determined Hessian).
    if (!(Nk > 1e-8)) {
      report.collapsed.push_back(k);
      continue;
    }
    const Matrix T = targets(y, resp.col(k));
    Matrix& W = coef_[static_cast<size_t>(k)];
    // Weighted Newton/IRLS for the multinomial logit (Chen, Xu & Chi 1999, section 3;
    // binary case: Jordan & Jacobs 1994, section 4), step-halving for a monotone Q.
    Matrix trial = W;
    const MultinomialFit f = fit_multinomial(x, T, Vector(), trial, 50, 1e-12);
    double max_std = 0.0;
    for (Index j = 0; j < p_; ++j)
      if (sd(j) > 0.0) max_std = std::max(max_std, sd(j) * trial.row(j).cwiseAbs().maxCoeff());
    const bool separated =
        max_std > kSeparationBound || f.max_abs_eta > kEtaBound || !trial.allFinite();
    separated_[static_cast<size_t>(k)] = separated;
    if (!separated) {
      W = std::move(trial);
      continue;
    }
    // (Quasi-)complete separation (Albert & Anderson 1984): Q_k has no finite maximiser and
    // rises towards its supremum as the coefficients run off. The same Newton steps from the
    // current W, kept where every weighted |eta| <= kEtaBound: Q_k still never decreases,
    // the objective stays the plain likelihood, and the separated rows' probabilities come
    // within exp(-kEtaBound) of their limit 1.
    fit_multinomial(x, T, Vector(), W, 50, 1e-12, kEtaBound);
    report.separated.push_back(k);
    report.warnings.push_back(fmt::format(
        "logistic expert {}: its weighted data are (quasi-)completely separated, so the "
        "likelihood has no maximum, only a supremum approached as the coefficients run off; "
        "they are held where every |linear predictor| <= {} and the fit is reported with "
        "status 'separation'",
        k + 1, kEtaBound));
  }
  return report;
}

Vector LogisticExperts::score(const ConstMatrixRef& x,
                              const ConstMatrixRef& y,
                              const ConstMatrixRef& resp) const {
  const Index K = components(), D = L_ - 1;
  Vector out(K * p_ * D);
  Matrix g;
  for (Index k = 0; k < K; ++k) {
    multinomial_objective(x, targets(y, resp.col(k)), Vector(), coef_[static_cast<size_t>(k)], &g);
    out.segment(k * p_ * D, p_ * D) = Eigen::Map<const Vector>(g.data(), p_ * D);
  }
  return out;
}

Vector LogisticExperts::parameters() const {
  const Index D = L_ - 1;
  Vector theta(num_params());
  for (Index k = 0; k < components(); ++k)
    theta.segment(k * p_ * D, p_ * D) =
        Eigen::Map<const Vector>(coef_[static_cast<size_t>(k)].data(), p_ * D);
  return theta;
}

void LogisticExperts::set_parameters(const ConstVectorRef& theta) {
  const Index D = L_ - 1;
  if (theta.size() != num_params()) throw Error("LogisticExperts::set_parameters: wrong length");
  for (Index k = 0; k < components(); ++k)
    coef_[static_cast<size_t>(k)] = Eigen::Map<const Matrix>(theta.data() + k * p_ * D, p_, D);
}

std::vector<Matrix> LogisticExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  Matrix lp(x.rows(), L_);
  for (const Matrix& W : coef_) {
    multinomial_log_probs(x, W, lp);
    out.push_back(lp.array().exp().matrix());
  }
  return out;
}

Matrix LogisticExperts::sample(const ConstMatrixRef& x,
                               const std::vector<Index>& component,
                               Rng& rng) const {
  Matrix y(x.rows(), 1);
  Matrix lp(1, L_);
  for (Index i = 0; i < x.rows(); ++i) {
    multinomial_log_probs(x.row(i), coef_[static_cast<size_t>(component[static_cast<size_t>(i)])],
                          lp);
    double u = uniform01(rng), acc = 0.0;
    Index c = 0;
    for (; c < L_ - 1; ++c) {
      acc += std::exp(lp(0, c));
      if (u < acc) break;
    }
    y(i, 0) = static_cast<double>(c);
  }
  return y;
}

void LogisticExperts::reseed(Index k, const ConstMatrixRef&, const ConstMatrixRef&, Index) {
  // Equal class probabilities: a broad start that any row can pull towards its class.
  coef_[static_cast<size_t>(k)].setZero();
  separated_[static_cast<size_t>(k)] = false;
}

std::vector<ParameterMap> LogisticExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (const Matrix& W : coef_) out.push_back({{"coefficients", W}});
  return out;
}

void LogisticExperts::set_params(const std::vector<ParameterMap>& components, const ParameterMap&) {
  const Index K = this->components();
  if (static_cast<Index>(components.size()) != K)
    throw ModelFormatError(
        fmt::format("logistic experts: {} components given, expected {}", components.size(), K));
  for (Index k = 0; k < K; ++k) {
    const auto& m = components[static_cast<size_t>(k)];
    auto it = m.find("coefficients");
    if (it == m.end())
      throw ModelFormatError(fmt::format("logistic expert {}: missing 'coefficients'", k + 1));
    if (it->second.rows() != p_ || it->second.cols() != L_ - 1)
      throw ModelFormatError(
          fmt::format("logistic expert {}: 'coefficients' is {}x{}, expected {}x{}", k + 1,
                      it->second.rows(), it->second.cols(), p_, L_ - 1));
    if (!it->second.allFinite())
      throw ModelFormatError(fmt::format("logistic expert {}: coefficients not finite", k + 1));
    coef_[static_cast<size_t>(k)] = it->second;
  }
}

}  // namespace moekit
