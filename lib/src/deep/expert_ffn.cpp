#include "moekit/deep/expert_ffn.hpp"

#include "expert_gemm.hpp"
#include "moekit/core/error.hpp"

#include <algorithm>
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

template <typename S>
void ExpertParamsT<S>::resize_zero(Index dim, Index hidden) {
  w1.setZero(dim, hidden);
  b1.setZero(hidden);
  w2.setZero(hidden, dim);
  b2.setZero(dim);
}

template <typename S>
void ExpertParamsT<S>::init_uniform(Index dim, Index hidden, Rng& rng) {
  resize_zero(dim, hidden);
  auto fill = [&](S* p, Index n, double bound) {
    for (Index i = 0; i < n; ++i) p[i] = static_cast<S>(bound * (2.0 * uniform01(rng) - 1.0));
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

// act(h) and act'(h) for one element, exact (libm) in double.
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

// Elements per vectorised chunk: fixed-capacity Eigen arrays live on the stack.
constexpr Index kChunk = 64;
using Chunk = Eigen::Array<float, Eigen::Dynamic, 1, 0, kChunk, 1>;

// Float: scalar erff/expf per element would cost as much as a fifth of the expert GEMMs, so
// GELU and SiLU are Eigen array expressions (vectorised exp). Phi uses Abramowitz & Stegun
// 7.1.26 for erf (absolute error < 1.5e-7, under float's resolution near 1); its exp(-h^2/2)
// is the one the derivative needs anyway.
void activate_chunk(Activation a, float* hp, float* dp, Index m, bool want_dact) {
  Eigen::Map<Eigen::ArrayXf> hv(hp, m);
  const Chunk h = hv;
  switch (a) {
    case Activation::kRelu:
      hv = h.max(0.0f);
      if (want_dact) Eigen::Map<Eigen::ArrayXf>(dp, m) = (h > 0.0f).cast<float>();
      return;
    case Activation::kGelu: {
      constexpr float p = 0.3275911f, a1 = 0.254829592f, a2 = -0.284496736f, a3 = 1.421413741f,
                      a4 = -1.453152027f, a5 = 1.061405429f;
      const Chunk e = (-0.5f * h.square()).exp();
      const Chunk t = 1.0f / (1.0f + (p * static_cast<float>(kInvSqrt2)) * h.abs());
      // q = 0.5 erfc(|h| / sqrt 2) = Phi(-|h|), without cancellation in the left tail.
      const Chunk q = 0.5f * e * t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))));
      const Chunk cdf = (h < 0.0f).select(q, 1.0f - q);
      hv = h * cdf;
      if (want_dact)
        Eigen::Map<Eigen::ArrayXf>(dp, m) = cdf + static_cast<float>(kInvSqrt2Pi) * h * e;
      return;
    }
    case Activation::kSilu: {
      const Chunk s = 1.0f / (1.0f + (-h).exp());
      hv = h * s;
      if (want_dact) Eigen::Map<Eigen::ArrayXf>(dp, m) = s * (1.0f + h * (1.0f - s));
      return;
    }
  }
}

}  // namespace

template <>
void bias_activation<float>(Activation activation,
                            const ConstVectorRefT<float>& b1,
                            MatrixRefT<float> hid,
                            bool want_dact,
                            MatrixRefT<float> dact) {
  const Index n = hid.rows(), h = hid.cols();
  for (Index j = 0; j < h; ++j) {
    float* hc = hid.col(j).data();
    float* dc = want_dact ? dact.col(j).data() : nullptr;
    Eigen::Map<Eigen::ArrayXf>(hc, n) += b1(j);
    for (Index i = 0; i < n; i += kChunk) {
      const Index m = std::min(kChunk, n - i);
      activate_chunk(activation, hc + i, want_dact ? dc + i : nullptr, m, want_dact);
    }
  }
}

template <>
void bias_activation<double>(Activation activation,
                             const ConstVectorRefT<double>& b1,
                             MatrixRefT<double> hid,
                             bool want_dact,
                             MatrixRefT<double> dact) {
  const Index n = hid.rows(), h = hid.cols();
  for (Index j = 0; j < h; ++j) {
    for (Index i = 0; i < n; ++i) {
      double v = 0.0, s = 0.0;
      activate(activation, hid(i, j) + b1(j), v, s);
      hid(i, j) = v;
      if (want_dact) dact(i, j) = s;
    }
  }
}

template <typename S>
void ffn_forward(const ExpertParamsT<S>& p,
                 Activation activation,
                 const ConstMatrixRefT<S>& x,
                 MatrixRefT<S> act,
                 bool want_dact,
                 MatrixRefT<S> dact,
                 MatrixRefT<S> out) {
  if (x.rows() == 0) return;
  using detail::Op;
  detail::expert_gemm<S>(x, Op::kNone, p.w1, Op::kNone, act, false);
  bias_activation<S>(activation, p.b1, act, want_dact, dact);
  detail::expert_gemm<S>(act, Op::kNone, p.w2, Op::kNone, out, false);
  out.rowwise() += p.b2.transpose();
}

template <typename S>
void ffn_backward(const ExpertParamsT<S>& p,
                  const ConstMatrixRefT<S>& x,
                  const ConstMatrixRefT<S>& act,
                  const ConstMatrixRefT<S>& dact,
                  const ConstMatrixRefT<S>& dout,
                  MatrixRefT<S> dhid,
                  ExpertParamsT<S>& g,
                  MatrixRefT<S> dx) {
  if (x.rows() == 0) {
    dx.setZero();
    return;
  }
  using detail::Op;
  detail::expert_gemm<S>(act, Op::kTranspose, dout, Op::kNone, g.w2, true);
  g.b2.noalias() += dout.colwise().sum().transpose();
  detail::expert_gemm<S>(dout, Op::kNone, p.w2, Op::kTranspose, dhid, false);
  dhid.array() *= dact.array();
  detail::expert_gemm<S>(x, Op::kTranspose, dhid, Op::kNone, g.w1, true);
  g.b1.noalias() += dhid.colwise().sum().transpose();
  detail::expert_gemm<S>(dhid, Op::kNone, p.w1, Op::kTranspose, dx, false);
}

#define MOEKIT_DEEP_INSTANTIATE(S)                                                             \
  template struct ExpertParamsT<S>;                                                            \
  template void ffn_forward<S>(const ExpertParamsT<S>&, Activation, const ConstMatrixRefT<S>&, \
                               MatrixRefT<S>, bool, MatrixRefT<S>, MatrixRefT<S>);             \
  template void ffn_backward<S>(const ExpertParamsT<S>&, const ConstMatrixRefT<S>&,            \
                                const ConstMatrixRefT<S>&, const ConstMatrixRefT<S>&,          \
                                const ConstMatrixRefT<S>&, MatrixRefT<S>, ExpertParamsT<S>&,   \
                                MatrixRefT<S>);
MOEKIT_DEEP_INSTANTIATE(float)
MOEKIT_DEEP_INSTANTIATE(double)
#undef MOEKIT_DEEP_INSTANTIATE

}  // namespace moekit::deep
