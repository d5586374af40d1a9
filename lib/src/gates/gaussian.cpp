#include "moekit/gates/gaussian.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/logsumexp.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

GaussianGate::GaussianGate(Index K,
                           Index r,
                           Index first_column,
                           CovarianceStructure structure,
                           double reg_covar,
                           double collapse_tol)
    : prior_(K), density_(K, r, structure, reg_covar, collapse_tol), first_(first_column) {
  if (r < 1)
    throw InputError::option("--gate", "gaussian",
                             "needs at least one numeric gate covariate (--gate-formula '~ z')");
}

void GaussianGate::log_joint_weights(const ConstMatrixRef& z, MatrixRef out) const {
  const auto zc = covariates(z);
  density_.log_density(zc, zc, out);
  out.rowwise() += prior_.weights().array().log().matrix().transpose();
}

void GaussianGate::log_weights(const ConstMatrixRef& z, MatrixRef out) const {
  log_joint_weights(z, out);
  thread_local Vector lse;
  lse.resize(out.rows());
  normalize_rows_log(out, lse);
}

void GaussianGate::check_covariates(const ConstMatrixRef& z,
                                    const std::vector<std::string>& names,
                                    const std::string& source) const {
  if (z.cols() - first_ != density_.response_dim())
    throw Error("GaussianGate: wrong number of gate covariates");
  for (Index j = first_; j < z.cols(); ++j) {
    const std::string name =
        j < static_cast<Index>(names.size()) ? names[static_cast<size_t>(j)] : "z";
    if (z.rows() > 0 && (z.col(j).array() == z(0, j)).all())
      throw InputError(fmt::format(
          "{}: gate covariate '{}' has zero variance (every value is {}); a Gaussian gate "
          "needs covariates that vary",
          source, name, z(0, j)));
  }
}

std::vector<std::string> GaussianGate::fit(const ConstMatrixRef& z, const ConstMatrixRef& resp) {
  // Xu, Jordan & Hinton (1995), eqs. 17-19: alpha_k = N_k / N; m_k and S_k are the
  // posterior-weighted mean and covariance of z.
  prior_.fit(z, resp);
  const auto zc = covariates(z);
  const MStepReport r = rows_are_shared() ? density_.fit_moments(shared_moments(zc, resp))
                                          : density_.fit(zc, zc, resp);
  std::vector<std::string> warnings = r.warnings;
  for (Index k : r.collapsed)
    warnings.push_back(fmt::format(
        "gaussian gate: the covariance of branch {} in the gate covariates is singular (its "
        "rows share one value of z); its previous estimate is kept",
        k + 1));
  return warnings;
}

GaussianMoments GaussianGate::shared_moments(const ConstMatrixRef& zc,
                                             const ConstMatrixRef& resp) const {
  // Processes share the rows (core/process_sums.hpp): the weighted moments about the current
  // means, M_k = sum_i r_ik [1; z_i - m_k][1; z_i - m_k]' (stats/gaussian_moments.hpp), and
  // var(z) for the collapse test's scale, each summed over the processes; the M-step from
  // them is the one from the rows (GaussianExperts::fit_moments).
  const Index K = components(), r = zc.cols(), m = 1 + r;
  kernels::GaussianRegressionStorage pack;
  density_.export_pack(pack);
  Matrix all = reduce_blocks(
      zc.rows(), Matrix(Matrix::Zero(m, K * m)), [&](Index begin, Index size, Matrix& acc) {
        Matrix F(size, m), W(size, m);
        F.col(0).setOnes();
        for (Index k = 0; k < K; ++k) {
          for (Index c = 0; c < r; ++c)
            F.col(1 + c) =
                zc.col(c).segment(begin, size).array() - pack.coef[static_cast<size_t>(k * r + c)];
          W = F.array().colwise() * resp.col(k).segment(begin, size).array();
          acc.middleCols(k * m, m).noalias() += F.transpose() * W;
        }
      });
  sum_over_processes(all.data(), all.size());
  GaussianMoments out;
  out.p = 0;
  out.q = r;
  for (Index k = 0; k < K; ++k) out.M.push_back(all.middleCols(k * m, m));
  const double n = summed_over_processes(static_cast<double>(zc.rows()));
  Vector mean = zc.colwise().sum().transpose();
  sum_over_processes(mean.data(), r);
  mean /= n;
  Vector squares = (zc.rowwise() - mean.transpose()).array().square().colwise().sum().transpose();
  sum_over_processes(squares.data(), r);
  out.response_variance = n < 2 ? Vector(Vector::Zero(r)) : Vector(squares / (n - 1.0));
  return out;
}

Vector GaussianGate::score(const ConstMatrixRef& z, const ConstMatrixRef& resp) const {
  const auto zc = covariates(z);
  const Vector a = prior_.score(z, resp), b = density_.score(zc, zc, resp);
  Vector out(a.size() + b.size());
  out << a, b;
  return out;
}

Vector GaussianGate::parameters() const {
  const Vector a = prior_.parameters(), b = density_.parameters();
  Vector out(a.size() + b.size());
  out << a, b;
  return out;
}

void GaussianGate::set_parameters(const ConstVectorRef& theta) {
  if (theta.size() != num_params()) throw Error("GaussianGate::set_parameters: wrong length");
  prior_.set_parameters(theta.head(prior_.num_params()));
  density_.set_parameters(theta.tail(density_.num_params()));
}

void GaussianGate::reset_component(Index k) { prior_.reset_component(k); }

void GaussianGate::set_component(Index k, const Vector& mean, const Matrix& covariance) {
  density_.set_mean(k, mean);
  density_.set_covariance(k, covariance);
}

ParameterMap GaussianGate::params() const {
  // weights (K), means (K x r, a row per branch), covariance k (r x r) per branch or one
  // shared "covariance" for tied structures.
  ParameterMap p{{"weights", prior_.weights()}, {"means", density_.means()}};
  const auto comps = density_.component_params();
  for (size_t k = 0; k < comps.size(); ++k) {
    auto it = comps[k].find("covariance");
    if (it != comps[k].end()) p[fmt::format("covariance {}", k + 1)] = it->second;
  }
  for (const auto& [name, m] : density_.shared_params()) p[name] = m;
  return p;
}

void GaussianGate::set_params(const ParameterMap& p) {
  const Index K = components();
  auto weights = p.find("weights");
  auto means = p.find("means");
  if (weights == p.end() || means == p.end())
    throw ModelFormatError("gaussian gate: needs 'weights' and 'means'");
  prior_.set_params({{"weights", weights->second}});
  // K x r; with one covariate the file holds a flat list, read back as K x 1.
  const Matrix& Mk = means->second;
  if (Mk.rows() != K || Mk.cols() != density_.response_dim())
    throw ModelFormatError(fmt::format("gaussian gate: 'means' is {}x{}, expected {}x{}", Mk.rows(),
                                       Mk.cols(), K, density_.response_dim()));
  std::vector<ParameterMap> comps(static_cast<size_t>(K));
  for (Index k = 0; k < K; ++k) {
    comps[static_cast<size_t>(k)]["mean"] = Mk.row(k).transpose();
    auto c = p.find(fmt::format("covariance {}", k + 1));
    if (c != p.end()) comps[static_cast<size_t>(k)]["covariance"] = c->second;
  }
  ParameterMap shared;
  if (auto c = p.find("covariance"); c != p.end()) shared["covariance"] = c->second;
  try {
    density_.set_params(comps, shared);
  } catch (const InputError& e) {
    throw ModelFormatError(fmt::format("gaussian gate: {}", e.what()));
  }
}

}  // namespace moekit
