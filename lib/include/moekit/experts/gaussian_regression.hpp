#pragma once
// Experts with Gaussian noise around a linear mean (Gaussian and linear experts). They export
// their parameters as a kernel pack, so that the per-row kernels (CPU or GPU) evaluate their
// densities, and fit from moment statistics, so that an E-step that keeps the data on a
// device needs to send back only K small matrices.

#include "moekit/experts/expert.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/stats/gaussian_moments.hpp"

namespace moekit {

class GaussianRegression {
 public:
  virtual ~GaussianRegression() = default;
  // The current parameters in the layout of kernels::GaussianRegressionPack.
  virtual void export_pack(kernels::GaussianRegressionStorage& out) const = 0;
  // The M-step from the moments about the current parameters: the same estimates as
  // Experts::fit on the data the moments were taken from.
  virtual MStepReport fit_moments(const GaussianMoments& moments) = 0;
};

}  // namespace moekit
