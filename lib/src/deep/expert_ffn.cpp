#include "moekit/deep/expert_ffn.hpp"

#include "moekit/core/error.hpp"

#include <cmath>

namespace moekit::deep {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "silu") return Activation::kSilu;
  throw InputError::option("activation", name, "must be relu, gelu or silu");
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kGelu:
      return "gelu";
    case Activation::kSilu:
      return "silu";
  }
  return "?";
}

void ExpertParams::resize_zero(Index dim, Index hidden) {
  w1.setZero(dim, hidden);
  b1.setZero(hidden);
  w2.setZero(hidden, dim);
  b2.setZero(dim);
}

void ExpertParams::init_uniform(Index dim, Index hidden, Rng& rng) {
  resize_zero(dim, hidden);
  auto fill = [&](double* p, Index n, double bound) {
    for (Index i = 0; i < n; ++i) p[i] = bound * (2.0 * uniform01(rng) - 1.0);
  };
  const double b_in = 1.0 / std::sqrt(static_cast<double>(dim));
  const double b_hid = 1.0 / std::sqrt(static_cast<double>(hidden));
  fill(w1.data(), w1.size(), b_in);
  fill(b1.data(), b1.size(), b_in);
  fill(w2.data(), w2.size(), b_hid);
  fill(b2.data(), b2.size(), b_hid);
}

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// act(h) and act'(h) for one element.
inline void activate(Activation a, double h, double& value, double& slope) {
  switch (a) {
    case Activation::kRelu:
      value = h > 0.0 ? h : 0.0;
      slope = h > 0.0 ? 1.0 : 0.0;
      return;
    case Activation::kGelu: {
      const double cdf = 0.5 * (1.0 + std::erf(h * kInvSqrt2));
      value = h * cdf;
      slope = cdf + h * kInvSqrt2Pi * std::exp(-0.5 * h * h);
      return;
    }
    case Activation::kSilu: {
      const double s = 1.0 / (1.0 + std::exp(-h));
      value = h * s;
      slope = s * (1.0 + h * (1.0 - s));
      return;
    }
  }
}

}  // namespace

void ffn_forward(const ExpertParams& p,
                 Activation activation,
                 const ConstMatrixRef& x,
                 MatrixRef hpre,
                 MatrixRef act,
                 bool want_dact,
                 MatrixRef dact,
                 MatrixRef out) {
  if (x.rows() == 0) return;
  hpre.noalias() = x * p.w1;
  hpre.rowwise() += p.b1.transpose();
  const Index n = hpre.rows(), h = hpre.cols();
  for (Index j = 0; j < h; ++j) {
    for (Index i = 0; i < n; ++i) {
      double v = 0.0, s = 0.0;
      activate(activation, hpre(i, j), v, s);
      act(i, j) = v;
      if (want_dact) dact(i, j) = s;
    }
  }
  out.noalias() = act * p.w2;
  out.rowwise() += p.b2.transpose();
}

void ffn_backward(const ExpertParams& p,
                  const ConstMatrixRef& x,
                  const ConstMatrixRef& act,
                  const ConstMatrixRef& dact,
                  const ConstMatrixRef& dout,
                  MatrixRef dhid,
                  ExpertParams& g,
                  MatrixRef dx) {
  if (x.rows() == 0) {
    dx.setZero();
    return;
  }
  g.w2.noalias() += act.transpose() * dout;
  g.b2.noalias() += dout.colwise().sum().transpose();
  dhid.noalias() = dout * p.w2.transpose();
  dhid.array() *= dact.array();
  g.w1.noalias() += x.transpose() * dhid;
  g.b1.noalias() += dhid.colwise().sum().transpose();
  dx.noalias() = dhid * p.w1.transpose();
}

}  // namespace moekit::deep
