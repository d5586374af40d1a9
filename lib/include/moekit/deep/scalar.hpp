#pragma once
// The scalar types of the deep layer. The layer, its parameters, gradients, optimiser and
// losses are templates on the scalar S; float (the default: what sparse MoE layers are
// trained in) and double (for finite-difference checks and reference comparisons) are
// instantiated in the .cpp files. Reductions that need it (router softmax and
// log-sum-exp, loss sums) accumulate in double whatever S is.

#include "moekit/core/types.hpp"

namespace moekit::deep {

template <typename S>
using MatrixT = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  // column-major
template <typename S>
using VectorT = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <typename S>
using MatrixRefT = Eigen::Ref<MatrixT<S>>;
template <typename S>
using ConstMatrixRefT = Eigen::Ref<const MatrixT<S>>;
template <typename S>
using VectorRefT = Eigen::Ref<VectorT<S>>;
template <typename S>
using ConstVectorRefT = Eigen::Ref<const VectorT<S>>;

using MatrixF = MatrixT<float>;
using VectorF = VectorT<float>;

}  // namespace moekit::deep
