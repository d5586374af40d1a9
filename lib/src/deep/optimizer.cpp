#include "moekit/deep/optimizer.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit::deep {

void AdamOptions::validate() const {
  auto check = [](const char* name, double v, bool ok, const char* rule) {
    if (!ok || !std::isfinite(v)) throw InputError::option(name, fmt::format("{}", v), rule);
  };
  check("adam.lr", lr, lr > 0.0, "must be finite and > 0");
  check("adam.beta1", beta1, beta1 >= 0.0 && beta1 < 1.0, "must be in [0, 1)");
  check("adam.beta2", beta2, beta2 >= 0.0 && beta2 < 1.0, "must be in [0, 1)");
  check("adam.eps", eps, eps > 0.0, "must be finite and > 0");
  check("adam.weight_decay", weight_decay, weight_decay >= 0.0, "must be finite and >= 0");
}

template <typename S>
AdamT<S>::AdamT(const AdamOptions& options) : options_(options) {
  options_.validate();
}

template <typename S>
void AdamT<S>::step(MoeParamsT<S>& params, MoeParamsT<S>& grads) {
  const auto p = params.spans();
  const auto g = grads.spans();
  if (p.size() != g.size())
    throw InputError::option("Adam::step", "grads", "must have the shapes of params");
  if (m_.size() != p.size()) {
    m_.resize(p.size());
    v_.resize(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
      m_[i].setZero(p[i].second);
      v_[i].setZero(p[i].second);
    }
  }
  ++t_;
  const AdamOptions& o = options_;
  const double c1 = 1.0 - std::pow(o.beta1, static_cast<double>(t_));
  const double c2 = 1.0 - std::pow(o.beta2, static_cast<double>(t_));
  const double step = o.lr / c1;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i].second != g[i].second || p[i].second != m_[i].size())
      throw InputError::option("Adam::step", "grads", "must have the shapes of params");
    Eigen::Map<VectorT<S>> w(p[i].first, p[i].second);
    Eigen::Map<const VectorT<S>> gi(g[i].first, g[i].second);
    const auto b1 = static_cast<S>(o.beta1), b2 = static_cast<S>(o.beta2);
    m_[i] = b1 * m_[i] + (S(1) - b1) * gi;
    v_[i] = b2 * v_[i] + (S(1) - b2) * gi.cwiseAbs2();
    if (o.weight_decay > 0.0) w *= static_cast<S>(1.0 - o.lr * o.weight_decay);
    // Algorithm 1 with the bias corrections folded in: w -= lr m^ / (sqrt(v^) + eps).
    w.array() -= static_cast<S>(step) * m_[i].array() /
                 ((v_[i].array() / static_cast<S>(c2)).sqrt() + static_cast<S>(o.eps));
  }
}

template class AdamT<float>;
template class AdamT<double>;

}  // namespace moekit::deep
