#pragma once
// Internal to moekit: the E-step of a flat model on a CUDA device. The data are uploaded
// once; every E-step leaves the posteriors on the device and sends back the log-likelihood,
// and moments() the experts' moment statistics: K small matrices per EM iteration cross the
// bus. A plain C++ interface (no CUDA and no Eigen types), so that the library's own code
// calls it without CUDA headers.

#include "moekit/kernels/moments.hpp"
#include "moekit/kernels/pack_storage.hpp"

#include <memory>
#include <string>

namespace moekit::cuda {

// Whether a CUDA device can run kernels; otherwise the reason in `why`.
bool device_usable(std::string* why);

class DeviceEStep {
 public:
  // The columns of x (n x p), y (n x q) and z (n x r), column-major with n rows; the host
  // arrays must outlive this object (x and z are uploaded when a model first reads them).
  // single_precision: data, E-step arithmetic and posteriors in float32 (moments in double).
  DeviceEStep(long n,
              int p,
              const double* x,
              int q,
              const double* y,
              int r,
              const double* z,
              bool single_precision);
  ~DeviceEStep();
  DeviceEStep(const DeviceEStep&) = delete;
  DeviceEStep& operator=(const DeviceEStep&) = delete;

  struct Summary {
    double loglik = 0.0;  // sum of the rows' log-likelihoods (fixed-order reduction)
    long first_bad = -1;  // first row with a non-finite log-likelihood, -1 when none
  };
  // The E-step for the model in `pack`; the posteriors stay on the device.
  Summary estep(const kernels::FlatModelStorage& pack);
  // The moments (kernels::MomentLayout order, layout.total() values) of the experts about
  // the coefficients in `pack`, from the posteriors of the last estep().
  void moments(const kernels::FlatModelStorage& pack, double* out);
  // Copies back the posteriors of the last estep() (n x K column-major) and the rows'
  // log-likelihoods (n); either may be null.
  void fetch(double* posteriors, double* row_loglik);
  // Waits for the device (timings).
  void synchronize();

  std::string device_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moekit::cuda
