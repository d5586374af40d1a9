#pragma once
// One expert: a two-layer feed-forward network FFN(x) = act(x W1 + b1) W2 + b2 applied to a
// block of rows (tokens), with its backward pass. Rows are tokens; W1 is d x h, W2 is h x d.
// S (float or double) is the scalar of the parameters and the rows.

#include "moekit/core/rng.hpp"
#include "moekit/deep/scalar.hpp"

#include <string>

namespace moekit::deep {

enum class Activation {
  kRelu,  // max(0, x)
  kGelu,  // x Phi(x), the exact (erf) form (Hendrycks & Gimpel 2016)
  kSilu,  // x sigmoid(x) (Elfwing et al. 2018)
};

Activation parse_activation(const std::string& name);  // "relu" | "gelu" | "silu"
std::string to_string(Activation a);

template <typename S>
struct ExpertParamsT {
  MatrixT<S> w1;  // d x h
  VectorT<S> b1;  // h
  MatrixT<S> w2;  // h x d
  VectorT<S> b2;  // d

  // Shapes for d and h, all zero.
  void resize_zero(Index dim, Index hidden);
  // PyTorch nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases
  // (drawn in double, then rounded to S: the same draws for both precisions).
  void init_uniform(Index dim, Index hidden, Rng& rng);
};

using ExpertParams = ExpertParamsT<float>;
using ExpertParams64 = ExpertParamsT<double>;

// In place on a block of pre-activations (n x h): hid = act(hid + b1) and, when `want_dact`
// is set, dact = act'(hid + b1) (otherwise dact is not touched). The bias is fused here so
// that the hidden block is read and written once after its GEMM; GELU and SiLU use Eigen's
// vectorised erf/exp for float.
template <typename S>
void bias_activation(Activation activation,
                     const ConstVectorRefT<S>& b1,
                     MatrixRefT<S> hid,
                     bool want_dact,
                     MatrixRefT<S> dact);

// Forward on a block of n rows: act = act(x W1 + b1), out = act W2 + b2 (n x h and n x d).
// When `want_dact` is set, `dact` (n x h) receives act'(x W1 + b1) for the backward pass;
// otherwise it is not touched.
template <typename S>
void ffn_forward(const ExpertParamsT<S>& p,
                 Activation activation,
                 const ConstMatrixRefT<S>& x,
                 MatrixRefT<S> act,
                 bool want_dact,
                 MatrixRefT<S> dact,
                 MatrixRefT<S> out);

// Backward on the same block given dL/dout: accumulates parameter gradients into `g` and
// writes dL/dx into `dx` (overwritten). `dhid` (n x h) is scratch.
template <typename S>
void ffn_backward(const ExpertParamsT<S>& p,
                  const ConstMatrixRefT<S>& x,
                  const ConstMatrixRefT<S>& act,
                  const ConstMatrixRefT<S>& dact,
                  const ConstMatrixRefT<S>& dout,
                  MatrixRefT<S> dhid,
                  ExpertParamsT<S>& g,
                  MatrixRefT<S> dx);

}  // namespace moekit::deep
