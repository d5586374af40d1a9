#pragma once
// Internal to the deep layer: the expert GEMMs c (+)= op(a) op(b). Float runs moekit's packed
// SGEMM (core/sgemm.hpp: its own AVX-512 kernel where the build targets AVX-512), double runs
// Eigen's product. One product runs on one thread; the layer threads over its work items.

#include "moekit/deep/scalar.hpp"

namespace moekit::deep::detail {

enum class Op { kNone, kTranspose };

template <typename S>
void expert_gemm(const ConstMatrixRefT<S>& a,
                 Op op_a,
                 const ConstMatrixRefT<S>& b,
                 Op op_b,
                 MatrixRefT<S> c,
                 bool accumulate);

}  // namespace moekit::deep::detail
