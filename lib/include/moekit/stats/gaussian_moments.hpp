#pragma once
// The moment statistics of Gaussian-regression experts (kernels/moments.hpp): per expert
// the symmetric matrix M_k = sum_i r_ik f f', f = [1; x_i; y_i - B_k' x_i] about the current
// coefficients. The experts' M-step needs nothing else, so a backend that keeps the data and
// the posteriors on a device sends only these K small matrices back. Structures that read
// less of the e-block may be sent less: the CPU E-step sums only its diagonal for the
// axis-aligned structures and only its trace (in entry (1, 1)) for the spherical ones, the
// other entries zero.

#include "moekit/core/types.hpp"
#include "moekit/kernels/moments.hpp"
#include "moekit/kernels/packs.hpp"

#include <vector>

namespace moekit {

struct GaussianMoments {
  Index p = 0, q = 0;        // p = 0: Gaussian experts (no design)
  std::vector<Matrix> M;     // K matrices of (1 + p + q) x (1 + p + q)
  Vector response_variance;  // var(y_j) over all rows (n - 1): the experts' scale reference
  // The responses response_variance was summed from (Dataset::y's storage and shape; null:
  // unknown). The tiled CPU E-steps reuse the variance of the moments they replace when it
  // is of the same storage (a fitter's E-steps all read one data set) instead of summing the
  // responses again every iteration: a fifteenth of a diagonal Gaussian mixture's E-step.
  struct Source {
    const double* data = nullptr;
    Index rows = 0, cols = 0, stride = 0;
    static Source of(const Matrix& y) { return {y.data(), y.rows(), y.cols(), y.outerStride()}; }
    bool operator==(const Source& o) const {
      return data == o.data && rows == o.rows && cols == o.cols && stride == o.stride;
    }
  };
  Source variance_source;

  Index components() const { return static_cast<Index>(M.size()); }
  // N_k = M_k(0, 0), the posterior mass of every expert.
  Vector masses() const;
  // From the packed upper triangles (MomentLayout order).
  static GaussianMoments unpack(const kernels::MomentLayout& layout,
                                const double* packed,
                                const Vector& response_variance);
  // The same into `out`, reusing its matrices (an E-step per EM iteration then allocates
  // nothing here); its variance_source is reset.
  static void unpack_into(const kernels::MomentLayout& layout,
                          const double* packed,
                          const Vector& response_variance,
                          GaussianMoments& out);
};

// The variance of every response column (n - 1 denominator; 0 for one row).
Vector response_variance(const ConstMatrixRef& y);

// The moments by the tiled algorithm of the GPU kernel run serially on the host: the same
// tiles, the same per-thread statistics and the same order of summation (blocks of
// kMomentBlockRows rows added in block order). x is n x p (unused when p = 0), y n x q and
// post n x K, all column-major with n rows.
GaussianMoments tiled_gaussian_moments(const kernels::GaussianRegressionPack<double>& pack,
                                       const ConstMatrixRef& x,
                                       const ConstMatrixRef& y,
                                       const ConstMatrixRef& post);

}  // namespace moekit
