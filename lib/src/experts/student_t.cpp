#include "moekit/experts/student_t.hpp"

#include "moekit/core/column_variances.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/kernels/lanes.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <fmt/format.h>
#include <Eigen/Cholesky>
#include <boost/math/special_functions/digamma.hpp>

#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/tools/roots.hpp>

#include <algorithm>
#include <cmath>

namespace moekit {

namespace {

constexpr double kLogPi = 1.14472988584940017414;

// out = log1p(delta / nu), by the vector log1p: the C library's scalar log1p was two thirds
// of a t expert's EM iteration (one per row and expert in the E-step, and one per row in
// every evaluation of the nu profile). out may be the block's own buffer.
template <typename In, typename Out>
void log1p_scaled(const In& delta, double nu, Out& out) {
  out = delta / nu;
  kernels::apply_lanes(out.data(), out.data(), out.size(),
                       [](kernels::Lanes v) { return kernels::log1p_lanes(v); });
}

// log Gamma(a + d) - log Gamma(a); through the ratio for large a, where the difference of
// two large lgamma values would cancel (nu = 1e6 approximates a Gaussian).
double lgamma_difference(double a, double d) {
  if (a > 50.0) {
    const double ratio = boost::math::tgamma_delta_ratio(a, d);  // Gamma(a) / Gamma(a + d)
    if (ratio > 0 && std::isfinite(ratio)) return -std::log(ratio);
  }
  return boost::math::lgamma(a + d) - boost::math::lgamma(a);
}

}  // namespace

double student_t_df_root(double mean_log_u_minus_u, double nu_old, double q) {
  using boost::math::digamma;
  const double c =
      1.0 + mean_log_u_minus_u + digamma(0.5 * (nu_old + q)) - std::log(0.5 * (nu_old + q));
  auto f = [c](double nu) { return std::log(0.5 * nu) - digamma(0.5 * nu) + c; };
  const double lo = StudentTExperts::kMinDf, hi = StudentTExperts::kMaxDf;
  const double flo = f(lo), fhi = f(hi);
  // f decreases in nu; Q is concave in nu (dQ/dnu = N f / 2), so the clamped root is the
  // constrained maximiser.
  if (!(flo > 0)) return lo;
  if (!(fhi < 0)) return hi;
  boost::uintmax_t max_iter = 100;
  const auto bracket = boost::math::tools::toms748_solve(
      f, lo, hi, flo, fhi, boost::math::tools::eps_tolerance<double>(48), max_iter);
  return 0.5 * (bracket.first + bracket.second);
}

double student_t_df_loglik(const ConstVectorRef& r,
                           const ConstVectorRef& delta,
                           double nu,
                           double q) {
  const double c = lgamma_difference(0.5 * nu, 0.5 * q) - 0.5 * q * std::log(nu);
  // Summed over the processes that share the rows (core/process_sums.hpp), as the slope below.
  return summed_over_processes(
      reduce_blocks(r.size(), 0.0, [&](Index begin, Index size, double& acc) {
        thread_local Eigen::ArrayXd l;
        log1p_scaled(delta.segment(begin, size).array(), nu, l);
        acc += (r.segment(begin, size).array() * (c - 0.5 * (nu + q) * l)).sum();
      }));
}

double student_t_df_profile_max(const ConstVectorRef& r,
                                const ConstVectorRef& delta,
                                double q,
                                std::initializer_list<double> candidates) {
  using boost::math::digamma;
  const double N = summed_over_processes(r.sum());
  // d/dnu of the weighted log-likelihood (the same terms as score(), divided by N).
  auto slope = [&](double nu) {
    const double a = 0.5 * (digamma(0.5 * (nu + q)) - digamma(0.5 * nu) - q / nu);
    const double s = reduce_blocks(r.size(), 0.0, [&](Index begin, Index size, double& acc) {
      const auto rb = r.segment(begin, size).array();
      const auto db = delta.segment(begin, size).array();
      thread_local Eigen::ArrayXd l;
      log1p_scaled(db, nu, l);
      acc += (rb * (-0.5 * l + 0.5 * (nu + q) * db / (nu * (nu + db)))).sum();
    });
    return a + summed_over_processes(s) / N;
  };
  const double lo = StudentTExperts::kMinDf, hi = StudentTExperts::kMaxDf;
  std::vector<double> trial(candidates);
  // From the current nu, walk uphill (doubling or halving) until the slope changes sign,
  // then refine the stationary point by TOMS 748; at a bound the bound is the candidate.
  double a = std::clamp(*candidates.begin(), lo, hi), fa = slope(a);
  const bool up = fa > 0;
  for (;;) {
    const double b = up ? std::min(hi, a * 2.0) : std::max(lo, a * 0.5);
    if (b == a) {
      trial.push_back(b);
      break;
    }
    const double fb = slope(b);
    if ((fb > 0) != up || fb == 0) {
      boost::uintmax_t max_iter = 100;
      const auto root =
          up ? boost::math::tools::toms748_solve(
                   slope, a, b, fa, fb, boost::math::tools::eps_tolerance<double>(40), max_iter)
             : boost::math::tools::toms748_solve(
                   slope, b, a, fb, fa, boost::math::tools::eps_tolerance<double>(40), max_iter);
      trial.push_back(0.5 * (root.first + root.second));
      break;
    }
    a = b;
    fa = fb;
  }
  // Keep the best candidate; the first (the current nu) wins ties, so Q never decreases.
  double best = *candidates.begin(), best_value = student_t_df_loglik(r, delta, best, q);
  for (double nu : trial) {
    const double v = student_t_df_loglik(r, delta, nu, q);
    if (v > best_value) {
      best = nu;
      best_value = v;
    }
  }
  return best;
}

StudentTExperts::StudentTExperts(Index K,
                                 Index q,
                                 Index p,
                                 CovarianceStructure structure,
                                 double reg_covar,
                                 double fixed_df,
                                 double collapse_tol)
    : coef_(static_cast<size_t>(K), Matrix::Zero(p, q)),
      cov_(structure, K, q, reg_covar),
      nu_(Vector::Constant(K, fixed_df > 0 ? fixed_df : kInitialDf)),
      fixed_df_(fixed_df),
      collapse_tol_(collapse_tol) {
  if (!(fixed_df >= 0) || !std::isfinite(fixed_df))
    throw InputError::option("--df", fmt::format("{}", fixed_df),
                             "must be finite and > 0 (or 0: estimate nu)");
  if (p < 1)
    throw InputError::option("--formula", "no covariates", "t experts need at least an intercept");
}

double StudentTExperts::log_constant(Index k) const {
  const double nu = nu_(k), q = static_cast<double>(response_dim());
  return lgamma_difference(0.5 * nu, 0.5 * q) - 0.5 * q * (std::log(nu) + kLogPi) -
         0.5 * cov_.log_det(k);
}

void StudentTExperts::mahalanobis(
    Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Matrix& e, Vector& delta) const {
  e.resize(y.rows(), y.cols());
  e.noalias() = y - x * coef_[static_cast<size_t>(k)];
  delta.resize(y.rows());
  cov_.mahalanobis(k, e, delta);
}

void StudentTExperts::mahalanobis_rows(Index k,
                                       const ConstMatrixRef& x,
                                       const ConstMatrixRef& y,
                                       Vector& delta) const {
  delta.resize(y.rows());
  parallel_blocks(y.rows(), [&](Index, Index begin, Index size) {
    thread_local Matrix e;
    e.resize(size, y.cols());
    e.noalias() =
        y.middleRows(begin, size) - x.middleRows(begin, size) * coef_[static_cast<size_t>(k)];
    cov_.mahalanobis(k, e, delta.segment(begin, size));
  });
}

void StudentTExperts::log_density(const ConstMatrixRef& x,
                                  const ConstMatrixRef& y,
                                  MatrixRef out) const {
  thread_local Matrix e;
  thread_local Vector delta;
  const double q = static_cast<double>(response_dim());
  for (Index k = 0; k < components(); ++k) {
    mahalanobis(k, x, y, e, delta);
    const double nu = nu_(k);
    thread_local Eigen::ArrayXd l;
    log1p_scaled(delta.array(), nu, l);
    out.col(k).array() = log_constant(k) - 0.5 * (nu + q) * l;
  }
}

MStepReport StudentTExperts::fit(const ConstMatrixRef& x,
                                 const ConstMatrixRef& y,
                                 const ConstMatrixRef& resp) {
  const Index K = components(), q = response_dim(), p = coef_[0].rows(), n = y.rows();
  if (y.cols() != q || x.cols() != p || resp.cols() != K || x.rows() != n)
    throw Error("StudentTExperts::fit: shape mismatch");
  // Every sum over the rows below is summed over the processes that share them
  // (core/process_sums.hpp): the weighted least squares, the scatter, the masses and the
  // sums that nu's 1-D root finds take.
  cov_.set_reference_variance(column_variances(y, /*over_processes=*/true));
  const double qd = static_cast<double>(q);
  MStepReport report;
  std::vector<Matrix> scatter(static_cast<size_t>(K), Matrix::Zero(q, q));
  std::vector<Index> no_fit;  // N_k < 1 or a singular weighted design
  Vector N = reduce_blocks(n, Vector(Vector::Zero(K)), [&](Index begin, Index size, Vector& acc) {
    acc += resp.middleRows(begin, size).colwise().sum().transpose();
  });
  sum_over_processes(N.data(), K);
  Vector mean_log_u_minus_u = Vector::Zero(K);
  const std::vector<Matrix> old_coef = coef_;
  std::vector<char> fits(static_cast<size_t>(K));
  for (Index k = 0; k < K; ++k) {
    fits[static_cast<size_t>(k)] = N(k) >= 1.0;
    if (!fits[static_cast<size_t>(k)]) no_fit.push_back(k);
  }
  // Each step below is one pass per row block over every component (three parallel regions
  // per M-step, not three per component: each region's start and end cost the threads a few
  // microseconds, a tenth of a 2-thread iteration at n = 1e5). Per component the sums are
  // those of a component-by-component loop, added in the same order.
  //
  // E-step for the latent scale weights at the current parameters (Chamroukhi 2016, eq. 20):
  // u_ik = (nu_k + q) / (nu_k + delta_ik). Before any fit the parameters are placeholders, so
  // the first M-step takes u = 1 (a Gaussian fit of the initial split). W holds w = r u, and
  // the pass sums r_i (log u_i - u_i).
  Matrix W;
  if (fresh_) {
    W = resp;
  } else {
    W.resize(n, K);
    const Vector sums =
        reduce_blocks(n, Vector(Vector::Zero(K)), [&](Index begin, Index size, Vector& acc) {
          thread_local Matrix e;
          thread_local Eigen::ArrayXd log_u;
          e.resize(size, q);
          log_u.resize(size);
          for (Index k = 0; k < K; ++k) {
            if (!fits[static_cast<size_t>(k)]) continue;
            e.noalias() = y.middleRows(begin, size) -
                          x.middleRows(begin, size) * coef_[static_cast<size_t>(k)];
            auto ub = W.col(k).segment(begin, size);
            cov_.mahalanobis(k, e, ub);
            const double nu = nu_(k);
            ub.array() = (nu + qd) / (nu + ub.array());
            kernels::apply_lanes(ub.data(), log_u.data(), size,
                                 [](kernels::Lanes v) { return kernels::log_lanes(v); });
            const auto rb = resp.col(k).segment(begin, size).array();
            acc(k) += (rb * (log_u - ub.array())).sum();
            ub.array() *= rb;
          }
        });
    for (Index k = 0; k < K; ++k)
      if (fits[static_cast<size_t>(k)])
        mean_log_u_minus_u(k) = summed_over_processes(sums(k)) / N(k);
  }
  // CM-step 1 (eq. 24): B_k = (X' W X)^{-1} X' W Y with W = diag(r_ik u_ik). The same design
  // for every response column makes the multivariate GLS equal to least squares column by
  // column, whatever Sigma_k.
  struct CrossProducts {
    std::vector<Matrix> XtWX, XtWY;
    CrossProducts& operator+=(const CrossProducts& o) {
      for (size_t k = 0; k < XtWX.size(); ++k) {
        XtWX[k] += o.XtWX[k];
        XtWY[k] += o.XtWY[k];
      }
      return *this;
    }
  };
  CrossProducts cross =
      reduce_blocks(n,
                    CrossProducts{std::vector<Matrix>(static_cast<size_t>(K), Matrix::Zero(p, p)),
                                  std::vector<Matrix>(static_cast<size_t>(K), Matrix::Zero(p, q))},
                    [&](Index begin, Index size, CrossProducts& acc) {
                      const auto xb = x.middleRows(begin, size);
                      thread_local Matrix wy;
                      for (Index k = 0; k < K; ++k) {
                        if (!fits[static_cast<size_t>(k)]) continue;
                        const auto wb = W.col(k).segment(begin, size);
                        add_weighted_gram(xb, wb, acc.XtWX[static_cast<size_t>(k)]);
                        wy = y.middleRows(begin, size).array().colwise() * wb.array();
                        acc.XtWY[static_cast<size_t>(k)].noalias() += xb.transpose() * wy;
                      }
                    });
  for (Index k = 0; k < K; ++k) {
    if (!fits[static_cast<size_t>(k)]) continue;
    Matrix& XtWX = cross.XtWX[static_cast<size_t>(k)];
    Matrix& XtWY = cross.XtWY[static_cast<size_t>(k)];
    sum_over_processes(XtWX.data(), XtWX.size());
    sum_over_processes(XtWY.data(), XtWY.size());
    Matrix B;
    if (!solve_normal_equations(XtWX, XtWY, B)) {
      fits[static_cast<size_t>(k)] = 0;
      no_fit.push_back(k);
      continue;
    }
    coef_[static_cast<size_t>(k)] = B;
  }
  // CM-step 2 (eq. 25): Sigma_k = sum_i r_ik u_ik e_ik e_ik' / sum_i r_ik, residuals about the
  // new B_k; tied structures pool over k inside CovarianceSet::fit.
  struct Scatters {
    std::vector<Matrix> S;
    Scatters& operator+=(const Scatters& o) {
      for (size_t k = 0; k < S.size(); ++k) S[k] += o.S[k];
      return *this;
    }
  };
  scatter = reduce_blocks(n, Scatters{scatter}, [&](Index begin, Index size, Scatters& acc) {
              for (Index k = 0; k < K; ++k) {
                if (!fits[static_cast<size_t>(k)]) continue;
                const Matrix e = y.middleRows(begin, size) -
                                 x.middleRows(begin, size) * coef_[static_cast<size_t>(k)];
                const Matrix we = e.array().colwise() * W.col(k).segment(begin, size).array();
                acc.S[static_cast<size_t>(k)].noalias() += we.transpose() * e;
              }
            }).S;
  for (Index k = 0; k < K; ++k)
    if (fits[static_cast<size_t>(k)])
      sum_over_processes(scatter[static_cast<size_t>(k)].data(), q * q);
  // Components without a fit keep their matrices; give the covariance update no weight for
  // them so that CovarianceSet reports them as collapsed.
  Vector Nfit = N;
  for (Index k : no_fit) Nfit(k) = 0.0;
  report.collapsed = cov_.fit(scatter, Nfit, collapse_tol_);
  for (Index k : report.collapsed) coef_[static_cast<size_t>(k)] = old_coef[static_cast<size_t>(k)];
  // CM-step 3, the ECME form (Liu & Rubin 1995, section 4; McLachlan & Peel 2000, 7.8):
  // nu_k maximises the weighted t log-likelihood sum_i r_ik log t_nu(y_i; B_k, Sigma_k) at
  // the new B_k and Sigma_k, rather than the ECM Q-function with the E-step's u_ik (eq. 27),
  // whose steps in nu shrink as EM nears the optimum. Either step increases Q, so EM stays
  // monotone; the ECM root is the fallback where the profile has no interior maximum.
  if (!df_fixed() && !fresh_) {
    for (Index k = 0; k < K; ++k) {
      if (std::find(report.collapsed.begin(), report.collapsed.end(), k) != report.collapsed.end())
        continue;
      Vector delta;
      mahalanobis_rows(k, x, y, delta);
      const double ecm = student_t_df_root(mean_log_u_minus_u(k), nu_(k), qd);
      nu_(k) = student_t_df_profile_max(resp.col(k), delta, qd, {nu_(k), ecm});
      if (nu_(k) <= kMinDf)
        report.warnings.push_back(fmt::format(
            "t expert {}: nu reached its lower bound {} (the likelihood still rises as nu "
            "falls): the expert's tails are as heavy as moekit allows, and the fit is a "
            "maximum on that bound",
            k + 1, kMinDf));
    }
  }
  fresh_ = false;
  return report;
}

Vector StudentTExperts::score(const ConstMatrixRef& x,
                              const ConstMatrixRef& y,
                              const ConstMatrixRef& resp) const {
  using boost::math::digamma;
  const Index K = components(), q = response_dim(), p = coef_[0].rows();
  const double qd = static_cast<double>(q);
  Vector out(K * p * q);
  std::vector<Matrix> G(static_cast<size_t>(K));
  Vector dnu(K);
  Matrix e;
  Vector delta;
  for (Index k = 0; k < K; ++k) {
    mahalanobis(k, x, y, e, delta);
    const double nu = nu_(k);
    const auto r = resp.col(k);
    const Vector w = (nu + qd) / (nu + delta.array());  // d log p / d(delta) = -w / 2
    const Vector rw = r.array() * w.array();
    // d/dB_k = X' diag(r w) E Sigma_k^{-1}  (p x q).
    Matrix Sinv_Et = (e.array().colwise() * rw.array()).matrix().transpose();  // q x n
    const Matrix& L = cov_.cholesky(k);
    L.triangularView<Eigen::Lower>().solveInPlace(Sinv_Et);
    L.transpose().triangularView<Eigen::Upper>().solveInPlace(Sinv_Et);
    const Matrix dB = x.transpose() * Sinv_Et.transpose();
    out.segment(k * p * q, p * q) = Eigen::Map<const Vector>(dB.data(), p * q);
    // d/dSigma_k: the Gaussian form with the scatter weighted by r w.
    const Matrix S = e.transpose() * (e.array().colwise() * rw.array()).matrix();
    G[static_cast<size_t>(k)] = cov_.gradient(k, S, r.sum());
    // d/d log nu_k = nu sum_i r_i [psi((nu+q)/2)/2 - psi(nu/2)/2 - q/(2 nu)
    //                             - log(1 + delta/nu)/2 + (nu+q) delta / (2 nu (nu + delta))].
    const double a = 0.5 * (digamma(0.5 * (nu + qd)) - digamma(0.5 * nu) - qd / nu);
    const Vector term = a - 0.5 * (delta.array() / nu).log1p() +
                        0.5 * (nu + qd) * delta.array() / (nu * (nu + delta.array()));
    dnu(k) = nu * r.dot(term);
  }
  cov_.append_score(G, out);
  if (!df_fixed()) {
    const Index old = out.size();
    out.conservativeResize(old + K);
    out.tail(K) = dnu;
  }
  return out;
}

Vector StudentTExperts::parameters() const {
  const Index K = components(), p = coef_[0].rows(), q = response_dim();
  Vector theta(K * p * q);
  for (Index k = 0; k < K; ++k)
    theta.segment(k * p * q, p * q) =
        Eigen::Map<const Vector>(coef_[static_cast<size_t>(k)].data(), p * q);
  cov_.append_parameters(theta);
  if (!df_fixed()) {
    const Index old = theta.size();
    theta.conservativeResize(old + K);
    theta.tail(K) = nu_.array().log();
  }
  return theta;
}

void StudentTExperts::set_parameters(const ConstVectorRef& theta) {
  const Index K = components(), p = coef_[0].rows(), q = response_dim();
  if (theta.size() != num_params()) throw Error("StudentTExperts::set_parameters: wrong length");
  for (Index k = 0; k < K; ++k)
    coef_[static_cast<size_t>(k)] = Eigen::Map<const Matrix>(theta.data() + k * p * q, p, q);
  Index pos = K * p * q;
  cov_.read_parameters(theta, pos);
  if (!df_fixed()) nu_ = theta.segment(pos, K).array().exp();
  fresh_ = false;
}

Index StudentTExperts::num_params() const {
  const Index K = components();
  return K * coef_[0].size() + cov_.num_params() + (df_fixed() ? 0 : K);
}

std::vector<Matrix> StudentTExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (const Matrix& B : coef_) out.push_back(x * B);
  return out;
}

Matrix StudentTExperts::sample(const ConstMatrixRef& x,
                               const std::vector<Index>& component,
                               Rng& rng) const {
  const Index q = response_dim();
  Matrix y(x.rows(), q);
  Vector z(q);
  for (Index i = 0; i < x.rows(); ++i) {
    const Index k = component[static_cast<size_t>(i)];
    const double nu = nu_(k);
    // y = B'x + L z / sqrt(U), U ~ Gamma(nu/2, rate nu/2) by inversion (portable draws).
    double v = uniform01(rng);
    while (v == 0.0) v = uniform01(rng);
    const double U = boost::math::gamma_p_inv(0.5 * nu, v) / (0.5 * nu);
    for (Index j = 0; j < q; ++j) z(j) = standard_normal(rng);
    y.row(i) = x.row(i) * coef_[static_cast<size_t>(k)] +
               (cov_.cholesky(k).triangularView<Eigen::Lower>() * z).transpose() / std::sqrt(U);
  }
  return y;
}

void StudentTExperts::reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) {
  // The minimum-norm B through the chosen row and a broad scale (the data's covariance).
  const double nx = x.row(row).squaredNorm();
  coef_[static_cast<size_t>(k)] =
      nx > 0 ? Matrix(x.row(row).transpose() * y.row(row) / nx) : Matrix::Zero(x.cols(), y.cols());
  if (!df_fixed()) nu_(k) = kInitialDf;
  if (is_tied(cov_.structure())) return;
  const RowVector mean = y.colwise().mean();
  const Matrix centered = y.rowwise() - mean;
  Matrix S =
      centered.transpose() * centered / static_cast<double>(std::max<Index>(1, y.rows() - 1));
  cov_.reseed(k, S);
}

void StudentTExperts::set_component(Index k, const Matrix& B, const Matrix& sigma, double nu) {
  if (B.rows() != coef_[0].rows() || B.cols() != response_dim() || !B.allFinite())
    throw ModelFormatError(fmt::format("t expert {}: coefficients must be {}x{}", k + 1,
                                       coef_[0].rows(), response_dim()));
  if (!(nu > 0) || !std::isfinite(nu))
    throw ModelFormatError(fmt::format("t expert {}: df must be > 0", k + 1));
  coef_[static_cast<size_t>(k)] = B;
  cov_.set(k, sigma);
  nu_(k) = df_fixed() ? fixed_df_ : nu;
  fresh_ = false;
}

std::vector<ParameterMap> StudentTExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (Index k = 0; k < components(); ++k) {
    ParameterMap m;
    m["coefficients"] = coef_[static_cast<size_t>(k)];
    if (!is_tied(cov_.structure())) m["scale"] = cov_.covariance(k);
    m["df"] = Matrix::Constant(1, 1, nu_(k));
    out.push_back(m);
  }
  return out;
}

ParameterMap StudentTExperts::shared_params() const {
  if (!is_tied(cov_.structure())) return {};
  return {{"scale", cov_.covariance(0)}};
}

void StudentTExperts::set_params(const std::vector<ParameterMap>& components,
                                 const ParameterMap& shared) {
  const Index K = this->components(), q = response_dim(), p = coef_[0].rows();
  auto get = [](const ParameterMap& m, const std::string& name, Index rows, Index cols,
                const std::string& where) {
    auto it = m.find(name);
    if (it == m.end()) throw ModelFormatError(fmt::format("{}: missing '{}'", where, name));
    if (it->second.rows() != rows || it->second.cols() != cols)
      throw ModelFormatError(fmt::format("{}: '{}' is {}x{}, expected {}x{}", where, name,
                                         it->second.rows(), it->second.cols(), rows, cols));
    return it->second;
  };
  if (static_cast<Index>(components.size()) != K)
    throw ModelFormatError(
        fmt::format("t experts: {} components given, expected {}", components.size(), K));
  const bool tied = is_tied(cov_.structure());
  const Matrix shared_scale = tied ? get(shared, "scale", q, q, "t experts (tied)") : Matrix();
  if (tied) cov_.check_loaded(shared_scale, "t experts (tied): 'scale'");
  for (Index k = 0; k < K; ++k) {
    const std::string where = fmt::format("t expert {}", k + 1);
    const ParameterMap& c = components[static_cast<size_t>(k)];
    const Matrix B = get(c, "coefficients", p, q, where);
    const Matrix S = tied ? shared_scale : get(c, "scale", q, q, where);
    if (!tied) cov_.check_loaded(S, where + ": 'scale'");
    const double nu = df_fixed() ? fixed_df_ : get(c, "df", 1, 1, where)(0, 0);
    set_component(k, B, S, nu);
  }
  if (!tied) cov_.check_structure("t experts");
}

}  // namespace moekit
