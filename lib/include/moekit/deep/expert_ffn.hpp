#pragma once
// One expert: a two-layer feed-forward network FFN(x) = act(x W1 + b1) W2 + b2 applied to a
// block of rows (tokens), with its backward pass. Rows are tokens; W1 is d x h, W2 is h x d.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"

#include <string>

namespace moekit::deep {

enum class Activation {
  kRelu,  // max(0, x)
  kGelu,  // x Phi(x), the exact (erf) form (Hendrycks & Gimpel 2016)
  kSilu,  // x sigmoid(x) (Elfwing et al. 2018)
};

Activation parse_activation(const std::string& name);  // "relu" | "gelu" | "silu"
std::string to_string(Activation a);

struct ExpertParams {
  Matrix w1;  // d x h
  Vector b1;  // h
  Matrix w2;  // h x d
  Vector b2;  // d

  // Shapes for d and h, all zero.
  void resize_zero(Index dim, Index hidden);
  // PyTorch nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
  void init_uniform(Index dim, Index hidden, Rng& rng);
};

// Forward on a block of n rows: hpre = x W1 + b1, act = act(hpre), out = act W2 + b2 (all
// n x h or n x d). When `want_dact` is set, `dact` (n x h) receives act'(hpre) for the
// backward pass; otherwise it is not touched.
void ffn_forward(const ExpertParams& p,
                 Activation activation,
                 const ConstMatrixRef& x,
                 MatrixRef hpre,
                 MatrixRef act,
                 bool want_dact,
                 MatrixRef dact,
                 MatrixRef out);

// Backward on the same block given dL/dout: accumulates parameter gradients into `g` and
// writes dL/dx into `dx` (overwritten). `dhid` (n x h) is scratch.
void ffn_backward(const ExpertParams& p,
                  const ConstMatrixRef& x,
                  const ConstMatrixRef& act,
                  const ConstMatrixRef& dact,
                  const ConstMatrixRef& dout,
                  MatrixRef dhid,
                  ExpertParams& g,
                  MatrixRef dx);

}  // namespace moekit::deep
