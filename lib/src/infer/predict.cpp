#include "moekit/infer/predict.hpp"

#include "moekit/core/parallel.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/laplace.hpp>
#include <boost/math/distributions/negative_binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/poisson.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/tools/roots.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace moekit {

void require_finite_rows(const ConstMatrixRef& m, const Dataset& data, const char* what) {
  for (Index i = 0; i < m.rows(); ++i)
    if (!m.row(i).allFinite())
      throw NumericalError(fmt::format(
          "the {} of row {} (line {} of {}) is not finite: the row's values, or the model's "
          "parameters, overflow double precision",
          what, i + 1, data.line_of(i), data.source.empty() ? "the data" : data.source));
}

Matrix predict_posterior(const Model& model, const Dataset& data) {
  Posteriors post;
  model.e_step(data, post);
  require_finite_rows(post.nodes, data, "posterior");
  return post.leaves();
}

Matrix predict_branch_posterior(const Model& model, const Dataset& data) {
  if (model.tree().is_flat())
    throw InputError::option("--what", "branch",
                             "needs a model with a gating tree (--tree): a flat model's only "
                             "inner node is the root");
  Posteriors post;
  model.e_step(data, post);
  require_finite_rows(post.nodes, data, "posterior");
  return post.nodes.leftCols(model.tree().inner_nodes() - 1);
}

std::vector<Index> predict_class(const Model& model, const Dataset& data) {
  const Matrix resp = predict_posterior(model, data);
  std::vector<Index> out(static_cast<size_t>(resp.rows()));
  for (Index i = 0; i < resp.rows(); ++i) resp.row(i).maxCoeff(&out[static_cast<size_t>(i)]);
  return out;
}

Vector predict_log_density(const Model& model, const Dataset& data) {
  if (data.grouped())
    throw InputError(
        "--what density / log-density: a grouped model ('| g') has one density per group, not "
        "per row; use --what posterior or class");
  Posteriors post;
  model.e_step(data, post);
  require_finite_rows(post.row_loglik, data, "log-density");
  return post.row_loglik;
}

Matrix predict_gate(const Model& model, const Dataset& data) {
  Matrix g = model.leaf_weights(data.z);
  require_finite_rows(g, data, "gate weights");
  return g;
}

Matrix predict_mean(const Model& model, const Dataset& data) {
  const Matrix g = predict_gate(model, data);
  const std::vector<Matrix> means = model.experts().predict_means(data.x);
  Matrix out = Matrix::Zero(data.x.rows(),
                            means.empty() ? model.experts().response_dim() : means.front().cols());
  for (Index k = 0; k < model.components(); ++k)
    out += (means[static_cast<size_t>(k)].array().colwise() * g.col(k).array()).matrix();
  require_finite_rows(out, data, "prediction");
  return out;
}

namespace {

using Marginal = MarginalShape;

Marginal marginal_of(const Experts& e, Index k, Index j) {
  if (auto m = e.marginal(k, j)) return *m;
  throw InputError::option("--what", "quantile",
                           fmt::format("has no closed-form marginal for {} experts", e.family()));
}

double standard_cdf(const Marginal& m, double z) {
  switch (m.kind) {
    case Marginal::Kind::Normal:
      return boost::math::cdf(boost::math::normal_distribution<>(), z);
    case Marginal::Kind::Laplace:
      return boost::math::cdf(boost::math::laplace_distribution<>(), z);
    case Marginal::Kind::StudentT:
    case Marginal::Kind::Poisson:  // discrete: predict_count_quantile
    case Marginal::Kind::NegativeBinomial:
    case Marginal::Kind::Gamma:  // not location-scale: component_cdf
      break;
  }
  return boost::math::cdf(boost::math::students_t_distribution<>(m.df), z);
}

double standard_quantile(const Marginal& m, double level) {
  switch (m.kind) {
    case Marginal::Kind::Normal:
      return boost::math::quantile(boost::math::normal_distribution<>(), level);
    case Marginal::Kind::Laplace:
      return boost::math::quantile(boost::math::laplace_distribution<>(), level);
    case Marginal::Kind::StudentT:
    case Marginal::Kind::Poisson:
    case Marginal::Kind::NegativeBinomial:
    case Marginal::Kind::Gamma:
      break;
  }
  return boost::math::quantile(boost::math::students_t_distribution<>(m.df), level);
}

// The CDF at y and the level's quantile of a continuous component with location (mean) loc.
// Gamma: shape m.size and scale loc / m.size; the others are location-scale.
double component_cdf(const Marginal& m, double loc, double y) {
  if (m.kind == Marginal::Kind::Gamma)
    return y <= 0 ? 0.0
                  : boost::math::cdf(boost::math::gamma_distribution<>(m.size, loc / m.size), y);
  return standard_cdf(m, (y - loc) / m.scale);
}

double component_quantile(const Marginal& m, double loc, double level, double z) {
  if (m.kind == Marginal::Kind::Gamma)
    return boost::math::quantile(boost::math::gamma_distribution<>(m.size, loc / m.size), level);
  return loc + m.scale * z;
}

// P(Y <= y) and the level's quantile of a count with mean m (> 0) under marginal c.
double count_cdf(const Marginal& c, double m, double y) {
  if (c.kind == Marginal::Kind::NegativeBinomial)
    return boost::math::cdf(
        boost::math::negative_binomial_distribution<>(c.size, c.size / (c.size + m)), y);
  return boost::math::cdf(boost::math::poisson_distribution<>(m), y);
}

double count_quantile(const Marginal& c, double m, double level) {
  using Up = boost::math::policies::policy<
      boost::math::policies::discrete_quantile<boost::math::policies::integer_round_up>>;
  if (c.kind == Marginal::Kind::NegativeBinomial)
    return boost::math::quantile(
        boost::math::negative_binomial_distribution<double, Up>(c.size, c.size / (c.size + m)),
        level);
  return boost::math::quantile(boost::math::poisson_distribution<double, Up>(m), level);
}

// Quantiles of a mixture of counts (Poisson or negative binomial experts): the smallest
// count y with sum_k g_k P(Y_k <= y) >= level, found between the components' own quantiles.
Matrix predict_count_quantile(const Model& model, const Dataset& data, double level) {
  const Index K = model.components(), n = data.x.rows();
  const Matrix g = predict_gate(model, data);
  const std::vector<Matrix> mu = model.experts().predict_means(data.x);
  std::vector<Marginal> marg;
  for (Index k = 0; k < K; ++k) marg.push_back(marginal_of(model.experts(), k, 0));
  Matrix out(n, 1);
  parallel_blocks(n, [&](Index, Index begin, Index size) {
    for (Index i = begin; i < begin + size; ++i) {
      auto F = [&](double y) {
        double acc = 0.0;
        for (Index k = 0; k < K; ++k) {
          const double m = mu[static_cast<size_t>(k)](i, 0);
          acc += g(i, k) * (m > 0 ? count_cdf(marg[static_cast<size_t>(k)], m, y) : 1.0);
        }
        return acc;
      };
      double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
      for (Index k = 0; k < K; ++k) {
        const double m = mu[static_cast<size_t>(k)](i, 0);
        if (!std::isfinite(m))
          throw NumericalError(
              fmt::format("quantile: the mean of expert {} overflows at row {}", k + 1, i + 1));
        double qk = 0.0;
        if (m > 0) qk = count_quantile(marg[static_cast<size_t>(k)], m, level);
        lo = std::min(lo, qk);
        hi = std::max(hi, qk);
      }
      lo = std::max(0.0, std::floor(lo));
      hi = std::ceil(hi);
      while (lo < hi) {  // F is a step function, increasing in y
        const double mid = std::floor(0.5 * (lo + hi));
        if (F(mid) >= level)
          hi = mid;
        else
          lo = mid + 1.0;
      }
      out(i, 0) = lo;
    }
  });
  return out;
}

}  // namespace

Matrix predict_quantile(const Model& model, const Dataset& data, double level) {
  if (!(level > 0.0 && level < 1.0))
    throw InputError::option("--level", fmt::format("{}", level),
                             "must be strictly between 0 and 1");
  const Index K = model.components(), q = model.experts().response_dim(), n = data.x.rows();
  if (marginal_of(model.experts(), 0, 0).discrete())
    return predict_count_quantile(model, data, level);
  std::vector<Marginal> marg;
  for (Index k = 0; k < K; ++k)
    for (Index j = 0; j < q; ++j) marg.push_back(marginal_of(model.experts(), k, j));
  auto at = [&](Index k, Index j) -> const Marginal& {
    return marg[static_cast<size_t>(k * q + j)];
  };
  std::vector<double> zq(marg.size());
  for (size_t m = 0; m < marg.size(); ++m)
    zq[m] = marg[m].kind == Marginal::Kind::Gamma ? 0.0 : standard_quantile(marg[m], level);

  const Matrix g = predict_gate(model, data);
  // Finite locations, or the root search below would meet NaN.
  const std::vector<Matrix> loc = predict_expert_means(model, data);
  Matrix out(n, q);
  parallel_blocks(n, [&](Index, Index begin, Index size) {
    for (Index i = begin; i < begin + size; ++i) {
      for (Index j = 0; j < q; ++j) {
        // The mixture CDF is increasing and lies between its components' CDFs, so the
        // answer lies between the smallest and the largest component quantile.
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (Index k = 0; k < K; ++k) {
          const double v = component_quantile(at(k, j), loc[static_cast<size_t>(k)](i, j), level,
                                              zq[static_cast<size_t>(k * q + j)]);
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
        auto F = [&](double y) {
          double acc = 0.0;
          for (Index k = 0; k < K; ++k)
            acc += g(i, k) * component_cdf(at(k, j), loc[static_cast<size_t>(k)](i, j), y);
          return acc - level;
        };
        const double flo = F(lo), fhi = F(hi);
        if (!(hi > lo) || flo >= 0.0) {
          out(i, j) = lo;
        } else if (fhi <= 0.0) {
          out(i, j) = hi;
        } else {
          boost::uintmax_t iters = 200;
          const auto r = boost::math::tools::toms748_solve(
              F, lo, hi, flo, fhi, boost::math::tools::eps_tolerance<double>(50), iters);
          out(i, j) = 0.5 * (r.first + r.second);
        }
      }
    }
  });
  require_finite_rows(out, data, "quantile");
  return out;
}

Matrix predict_median(const Model& model, const Dataset& data) {
  return predict_quantile(model, data, 0.5);
}

std::vector<Matrix> predict_expert_means(const Model& model, const Dataset& data) {
  std::vector<Matrix> means = model.experts().predict_means(data.x);
  for (const Matrix& m : means) require_finite_rows(m, data, "expert prediction");
  return means;
}

Matrix predict_hard(const Model& model, const Dataset& data) {
  const Matrix g = predict_gate(model, data);
  const std::vector<Matrix> means = model.experts().predict_means(data.x);
  Matrix out(data.x.rows(), means.front().cols());
  for (Index i = 0; i < g.rows(); ++i) {
    Index k = 0;
    g.row(i).maxCoeff(&k);
    out.row(i) = means[static_cast<size_t>(k)].row(i);
  }
  require_finite_rows(out, data, "prediction");
  return out;
}

Matrix predict_class_probabilities(const Model& model, const Dataset& data) {
  if (!model.experts().categorical())
    throw InputError(
        fmt::format("class probabilities need logistic experts; this model has {} experts",
                    model.experts().family()));
  return predict_mean(model, data);
}

std::vector<Index> predict_labels(const Model& model, const Dataset& data) {
  const Matrix p = predict_class_probabilities(model, data);
  std::vector<Index> out(static_cast<size_t>(p.rows()));
  for (Index i = 0; i < p.rows(); ++i) p.row(i).maxCoeff(&out[static_cast<size_t>(i)]);
  return out;
}

}  // namespace moekit
