#pragma once
// The CPU E-step of a Gaussian mixture (a flat model of Gaussian experts, ungrouped rows) in
// tiles of kernels::kLanes rows (kernels/gaussian_tiles.hpp), with the experts' moment
// statistics gathered in the same pass when asked: then the M-step reads K small matrices
// instead of two more passes over the rows. Fixed row blocks (core/parallel.hpp), reduced in
// block order: results do not depend on the number of threads.

#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"
#include "moekit/model/posteriors.hpp"

namespace moekit {

// Fills `out` as Model::e_step does (posteriors, row log-likelihoods, their sums, the leaf
// masses) and returns true, or returns false for a model or data it does not cover (then
// nothing is touched). With `moments` it also sets out.moments: the experts' statistics about
// the parameters it used, and the variance of each response (the experts' scale reference).
// Without `rows` (only with `moments`) the n x K posteriors are not written (out.nodes is left
// empty, as a device backend leaves it; the row log-likelihoods are written): an EM iteration
// whose M-step needs only the moments and the masses then writes n doubles instead of
// n (K + 1), and the sums are bitwise those of a call with `rows`.
// Throws NumericalError naming the line of the first row with zero or non-finite density.
bool gaussian_mixture_estep(const Model& model,
                            const Dataset& data,
                            Posteriors& out,
                            bool moments = false,
                            bool rows = true);

}  // namespace moekit
