#include "moekit/experts/canonical_glm_experts.hpp"

#include "moekit/core/error.hpp"
#include "moekit/stats/canonical_glm.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

template <class C>
CanonicalGlmExperts<C>::CanonicalGlmExperts(Index K, Index p, std::vector<std::string> x_names)
    : p_(p), coef_(static_cast<size_t>(K), Vector::Zero(p)), x_names_(std::move(x_names)) {
  if (K < 1 || p < 1) throw InputError("GLM experts need K >= 1 and at least one covariate");
}

template <class C>
void CanonicalGlmExperts<C>::set_coefficients(Index k, const Vector& b) {
  if (b.size() != p_) throw Error("CanonicalGlmExperts::set_coefficients: shape mismatch");
  coef_[static_cast<size_t>(k)] = b;
}

template <class C>
Matrix CanonicalGlmExperts<C>::predictors(const ConstMatrixRef& x) const {
  Matrix eta(x.rows(), components());
  for (Index k = 0; k < components(); ++k) eta.col(k) = x * coef_[static_cast<size_t>(k)];
  return eta;
}

template <class C>
void CanonicalGlmExperts<C>::log_density(const ConstMatrixRef& x,
                                         const ConstMatrixRef& y,
                                         MatrixRef out) const {
  thread_local Vector t, m, base;
  statistics(y, t, m);
  base.resize(t.size());
  for (Index i = 0; i < t.size(); ++i) base(i) = log_base_measure(t(i), m(i));
  const Matrix eta = predictors(x);
  for (Index k = 0; k < components(); ++k)
    for (Index i = 0; i < x.rows(); ++i) {
      const double e = eta(i, k);
      out(i, k) = C::in_range(e) ? t(i) * e - m(i) * C::A(e) + base(i)
                                 : -std::numeric_limits<double>::infinity();
    }
}

template <class C>
MStepReport CanonicalGlmExperts<C>::fit(const ConstMatrixRef& x,
                                        const ConstMatrixRef& y,
                                        const ConstMatrixRef& resp) {
  const Index K = components();
  if (x.cols() != p_ || resp.cols() != K || x.rows() != y.rows())
    throw Error("CanonicalGlmExperts::fit: shape mismatch");
  check_design_rank_of(x, x_names_, family() + " experts");
  Vector t, m;
  statistics(y, t, m);
  MStepReport report;
  for (Index k = 0; k < K; ++k) {
    const auto r = resp.col(k);
    // A weighted GLM per expert (McLachlan & Peel 2000, section 5.12): Newton/IRLS with
    // step-halving from the current coefficients, so the Q-function never falls.
    if (!(summed_over_processes(r.sum()) > 1e-8) ||
        !fit_canonical_glm<C>(x, t, m, r, coef_[static_cast<size_t>(k)]))
      report.collapsed.push_back(k);
  }
  return report;
}

template <class C>
Vector CanonicalGlmExperts<C>::score(const ConstMatrixRef& x,
                                     const ConstMatrixRef& y,
                                     const ConstMatrixRef& resp) const {
  Vector t, m;
  statistics(y, t, m);
  const Matrix eta = predictors(x);
  Vector out(num_params());
  for (Index k = 0; k < components(); ++k) {
    Vector g(x.rows());
    for (Index i = 0; i < x.rows(); ++i) g(i) = resp(i, k) * (t(i) - m(i) * C::mean(eta(i, k)));
    out.segment(k * p_, p_) = x.transpose() * g;
  }
  return out;
}

template <class C>
Vector CanonicalGlmExperts<C>::parameters() const {
  Vector theta(num_params());
  for (Index k = 0; k < components(); ++k)
    theta.segment(k * p_, p_) = coef_[static_cast<size_t>(k)];
  return theta;
}

template <class C>
void CanonicalGlmExperts<C>::set_parameters(const ConstVectorRef& theta) {
  if (theta.size() != num_params())
    throw Error("CanonicalGlmExperts::set_parameters: wrong length");
  for (Index k = 0; k < components(); ++k)
    coef_[static_cast<size_t>(k)] = theta.segment(k * p_, p_);
}

template <class C>
void CanonicalGlmExperts<C>::reseed(Index k,
                                    const ConstMatrixRef& x,
                                    const ConstMatrixRef& y,
                                    Index row) {
  // The smallest coefficients that put the expert's mean at the row's observation.
  Vector t, m;
  statistics(y.middleRows(row, 1), t, m);
  const Vector xr = x.row(row).transpose();
  const double norm2 = xr.squaredNorm();
  coef_[static_cast<size_t>(k)] =
      norm2 > 0 ? Vector(xr * (eta_at(t(0), m(0)) / norm2)) : Vector::Zero(p_);
}

template <class C>
std::vector<ParameterMap> CanonicalGlmExperts<C>::component_params() const {
  std::vector<ParameterMap> out;
  for (const Vector& b : coef_) out.push_back({{"coefficients", Matrix(b)}});
  return out;
}

template <class C>
void CanonicalGlmExperts<C>::set_params(const std::vector<ParameterMap>& components,
                                        const ParameterMap&) {
  if (static_cast<Index>(components.size()) != this->components())
    throw ModelFormatError(fmt::format("{} experts: {} components given, expected {}", family(),
                                       components.size(), this->components()));
  for (Index k = 0; k < this->components(); ++k) {
    const auto& c = components[static_cast<size_t>(k)];
    auto it = c.find("coefficients");
    if (it == c.end())
      throw ModelFormatError(fmt::format("{} expert {}: missing 'coefficients'", family(), k + 1));
    if (it->second.rows() != p_ || it->second.cols() != 1)
      throw ModelFormatError(fmt::format("{} expert {}: 'coefficients' is {}x{}, expected {}x1",
                                         family(), k + 1, it->second.rows(), it->second.cols(),
                                         p_));
    if (!it->second.allFinite())
      throw ModelFormatError(
          fmt::format("{} expert {}: 'coefficients' are not finite", family(), k + 1));
    coef_[static_cast<size_t>(k)] = it->second.col(0);
  }
}

template class CanonicalGlmExperts<PoissonCumulant>;
template class CanonicalGlmExperts<LogisticCumulant>;

}  // namespace moekit
