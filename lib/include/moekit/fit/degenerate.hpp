#pragma once
// Degenerate maxima (McLachlan & Peel 2000, section 3.10: the likelihood of Gaussian-type
// experts is unbounded, and a fit can settle where one expert fits a handful of rows almost
// exactly): a component with fewer rows of responsibility than it has parameters of its own
// (a tied covariance, which every row estimates, is no component's own:
// Experts::shared_num_params), or whose
// scale for some response is below kDegenerateScale times that response's standard
// deviation, or, for q >= 2 responses, whose scale along its thinnest direction is below
// kDegenerateScale in the responses' standardised coordinates (a handful of rows nearly on a
// line that is not parallel to an axis: on faithful, full-covariance fits with K >= 4 settle
// there, docs/math/covariance_structures.md). Judged on what the data say, before any ridge.
// Both fitters use the rule.

#include "moekit/model/model.hpp"
#include "moekit/model/posteriors.hpp"

#include <optional>
#include <string>
#include <vector>

namespace moekit {

inline constexpr double kDegenerateScale = 0.01;

struct Degenerate {
  Index k;          // 0-based component
  std::string why;  // "it holds 1.2 rows' worth of responsibility, ..."
};

// The degenerate components at posteriors `post`; response_sd holds each response's
// standard deviation.
std::vector<Degenerate> degenerate_components(const Model& model,
                                              const Posteriors& post,
                                              const Vector& response_sd);

// The standard deviation along expert k's thinnest direction in standardised responses,
// sqrt(lambda_min(D^-1 Sigma_k D^-1)) with D = diag(response_sd); nullopt for fewer than two
// responses or a family without a covariance (Experts::scale_matrix).
std::optional<double> thinnest_scale(const Experts& experts, Index k, const Vector& response_sd);

// Each response's standard deviation (weighted by the observation weights, divisor
// sum w - 1, at least 1: a weighted fit and its expanded rows judge alike).
Vector response_sd(const Dataset& data);

}  // namespace moekit
