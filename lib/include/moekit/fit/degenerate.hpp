#pragma once
// Degenerate maxima (McLachlan & Peel 2000, section 3.10: the likelihood of Gaussian-type
// experts is unbounded, and a fit can settle where one expert fits a handful of rows almost
// exactly): a component with fewer rows of responsibility than it has parameters, or whose
// scale for some response is below kDegenerateScale times that response's standard
// deviation. Judged on what the data say, before any ridge. Both fitters use the rule.

#include "moekit/model/model.hpp"
#include "moekit/model/posteriors.hpp"

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

// Each response's standard deviation (weighted by the observation weights, divisor
// sum w - 1, at least 1: a weighted fit and its expanded rows judge alike).
Vector response_sd(const Dataset& data);

}  // namespace moekit
