#pragma once
// Single-precision matrix product C (+)= op(A) op(B) on one thread, for the deep layer's expert
// GEMMs. On a CPU with AVX-512 it runs moekit's own packed kernel (a 32 x 12 register tile:
// docs/deep.md "SGEMM"), elsewhere Eigen's product. Either way the summation order depends on
// the shapes only, never on the thread count: callers thread over independent products.

#include "moekit/core/types.hpp"

namespace moekit {

// A float matrix with arbitrary strides: element (i, j) is at data[i * row_stride +
// j * col_stride]. A column-major block has row_stride 1; its transpose swaps the strides.
struct SgemmOperand {
  const float* data = nullptr;
  Index rows = 0;
  Index cols = 0;
  Index row_stride = 1;
  Index col_stride = 0;

  SgemmOperand transposed() const { return {data, cols, rows, col_stride, row_stride}; }
};

// View of a column-major matrix or block (inner stride 1).
inline SgemmOperand sgemm_operand(const Eigen::Ref<const Eigen::MatrixXf>& m) {
  return {m.data(), m.rows(), m.cols(), 1, m.outerStride()};
}

// c = a b (accumulate false) or c += a b. Throws InputError when the shapes disagree.
void sgemm(const SgemmOperand& a,
           const SgemmOperand& b,
           Eigen::Ref<Eigen::MatrixXf> c,
           bool accumulate);

// Whether sgemm runs moekit's own AVX-512 kernel in this build (else Eigen's product).
bool sgemm_uses_own_kernel();

}  // namespace moekit
