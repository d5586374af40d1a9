#pragma once
// The experts of a model: the K leaf densities p_k(y | x) of one family, fitted together
// (tied covariances are shared across components). Polymorphism is per batch of rows: one
// virtual call fills an n x K block; the row math inside is inline.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moekit {

class GaussianRegression;

// What an M-step reports besides new parameters.
struct MStepReport {
  std::vector<Index> collapsed;       // components that degenerated and need re-seeding
  std::vector<std::string> warnings;  // e.g. separation in a logistic expert
  // Experts whose M-step has no maximiser, only a supremum (a separated logistic expert):
  // EM reports the fit with status "separation".
  std::vector<Index> separated;
};

// The marginal of one response under one expert, for predictive quantiles: location from
// predict_means, then a scale and a standard shape.
// Poisson: a count with mean the location (scale unused); negative binomial: a count with
// mean the location and size (dispersion theta) `size`; Gamma: mean the location and shape
// `size` (scale unused: the spread follows the mean).
struct MarginalShape {
  enum class Kind {
    Normal,
    Laplace,
    StudentT,
    Poisson,
    NegativeBinomial,
    Gamma
  } kind = Kind::Normal;
  double scale = 1.0;
  double df = 0.0;    // Student-t only
  double size = 0.0;  // negative binomial theta, Gamma shape
  // Whether `scale` is a spread of its own, the same on every row (the degenerate-scale test
  // reads it); counts and Gamma responses have a spread set by their mean.
  bool has_scale() const {
    return kind != Kind::Poisson && kind != Kind::NegativeBinomial && kind != Kind::Gamma;
  }
  bool discrete() const { return kind == Kind::Poisson || kind == Kind::NegativeBinomial; }
};

class Experts {
 public:
  virtual ~Experts() = default;

  virtual std::string family() const = 0;  // "gaussian", "linear", ...
  virtual Index components() const = 0;    // K
  virtual Index response_dim() const = 0;  // q
  // Whether the densities depend on x (Gaussian experts ignore it).
  virtual bool reads_covariates() const { return true; }
  // Whether y holds class codes (logistic experts) rather than numbers.
  virtual bool categorical() const { return false; }
  // The first row whose response the family cannot model (a negative or fractional count
  // for Poisson experts), and the rule it breaks, for the input error.
  virtual std::optional<Index> invalid_response_row(const ConstMatrixRef& /*y*/) const {
    return std::nullopt;
  }
  virtual std::string response_rule() const { return ""; }
  // A short note on the family's settings for summaries, e.g. "covariance full (mclust VVV)".
  virtual std::string settings_note() const { return ""; }
  // The marginal of response j under expert k; nullopt when the family has no closed form.
  virtual std::optional<MarginalShape> marginal(Index /*k*/, Index /*j*/) const {
    return std::nullopt;
  }
  // Sigma_k, the q x q covariance (or scale) matrix of expert k's response given x, for the
  // families that have one; the degenerate-scale test judges its thinnest direction.
  virtual const Matrix* scale_matrix(Index /*k*/) const { return nullptr; }

  // out(i, k) = log p_k(y_i | x_i) for the rows of one block (x: b x p, y: b x q, out: b x K).
  virtual void log_density(const ConstMatrixRef& x,
                           const ConstMatrixRef& y,
                           MatrixRef out) const = 0;

  // Weighted M-step: maximises sum_i sum_k resp(i, k) log p_k(y_i | x_i) (or increases it).
  virtual MStepReport fit(const ConstMatrixRef& x,
                          const ConstMatrixRef& y,
                          const ConstMatrixRef& resp) = 0;

  // Gradient of sum_i sum_k resp(i, k) log p_k(y_i | x_i) in the unconstrained parameters
  // (the layout of parameters()). By Fisher's identity, at resp = posterior this is the
  // gradient of the observed log-likelihood.
  virtual Vector score(const ConstMatrixRef& x,
                       const ConstMatrixRef& y,
                       const ConstMatrixRef& resp) const = 0;
  virtual Vector parameters() const = 0;
  virtual void set_parameters(const ConstVectorRef& theta) = 0;
  // Free parameters (the count used in AIC/BIC).
  virtual Index num_params() const = 0;
  // Those of them that every component shares with no part of its own (a tied covariance,
  // mclust's EII, EEI, EEE): all rows estimate them, so a component with few rows cannot
  // drive them to a degenerate value, and the row-count test of fit/degenerate.hpp leaves
  // them out of the component's own.
  virtual Index shared_num_params() const { return 0; }

  // E[y | x, component k] for every k: K matrices of n x q.
  virtual std::vector<Matrix> predict_means(const ConstMatrixRef& x) const = 0;
  // One draw of y per row from the component given in `component`.
  virtual Matrix sample(const ConstMatrixRef& x,
                        const std::vector<Index>& component,
                        Rng& rng) const = 0;

  // Places component k at row `row` of the data with a broad spread (after a collapse).
  virtual void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) = 0;

  // Named parameters per component, and those shared by all (tied covariance).
  virtual std::vector<ParameterMap> component_params() const = 0;
  virtual ParameterMap shared_params() const { return {}; }
  // Inverse of the two above; InputError (ModelFormatError) on wrong names or shapes.
  virtual void set_params(const std::vector<ParameterMap>& components,
                          const ParameterMap& shared) = 0;

  // The Gaussian-regression view of families that have one (kernel packs and the moments
  // M-step); nullptr for the others.
  virtual GaussianRegression* gaussian_regression() { return nullptr; }
  virtual const GaussianRegression* gaussian_regression() const { return nullptr; }

  virtual std::unique_ptr<Experts> clone() const = 0;
};

}  // namespace moekit
