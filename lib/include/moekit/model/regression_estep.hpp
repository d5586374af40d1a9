#pragma once
// The CPU E-step of a flat mixture of linear (Gaussian-noise regression) experts, ungrouped
// rows, in tiles of kernels::kLanes rows: the per-row log-densities of kernels/row_math.hpp,
// the log-sum-exp and posteriors over all lanes at once (kernels/gaussian_tiles.hpp), and,
// when asked, the experts' moment statistics (stats/gaussian_moments.hpp) gathered in the
// same pass, so that the M-step of the experts reads K small matrices instead of K + 1 more
// passes over the rows. Fixed row blocks (core/parallel.hpp), reduced in block order: results
// do not depend on the number of threads.

#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"
#include "moekit/model/posteriors.hpp"

namespace moekit {

// Fills `out` as Model::e_step does (posteriors, row log-likelihoods, their sums, the leaf
// masses) and returns true, or returns false for a model or data it does not cover (then
// nothing is touched). With `moments` it also sets out.moments: M_k = sum_i w_i r_ik f f',
// f = [1; x_i; y_i - B_k' x_i] about the coefficients it used, and the variance of each
// response. Throws NumericalError naming the line of the first row with zero or non-finite
// density.
bool linear_regression_estep(const Model& model,
                             const Dataset& data,
                             Posteriors& out,
                             bool moments = false);

}  // namespace moekit
