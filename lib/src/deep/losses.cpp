#include "moekit/deep/losses.hpp"

#include "moekit/core/logsumexp.hpp"
#include "moekit/deep/topk.hpp"

#include <cmath>

namespace moekit::deep {

template <typename S>
void softmax_rows(const ConstMatrixRefT<S>& z, MatrixRefT<S> p) {
  const Index T = z.rows(), E = z.cols();
  for (Index t = 0; t < T; ++t) {
    const double lse = log_sum_exp(z.row(t).template cast<double>());
    for (Index j = 0; j < E; ++j)
      p(t, j) = static_cast<S>(std::exp(static_cast<double>(z(t, j)) - lse));
  }
}

template <typename S>
void softmax_rows_backward(const ConstMatrixRefT<S>& p,
                           const ConstMatrixRefT<S>& dp,
                           MatrixRefT<S> dz) {
  const Index T = p.rows(), E = p.cols();
  for (Index t = 0; t < T; ++t) {
    double dot = 0.0;
    for (Index j = 0; j < E; ++j) dot += static_cast<double>(p(t, j)) * dp(t, j);
    for (Index j = 0; j < E; ++j)
      dz(t, j) += static_cast<S>(static_cast<double>(p(t, j)) * (dp(t, j) - dot));
  }
}

template <typename S>
double load_balancing_loss(const ConstMatrixRefT<S>& probs,
                           const ConstVectorRef& f,
                           double alpha,
                           MatrixRefT<S> dprobs) {
  const Index T = probs.rows(), E = probs.cols();
  const double scale = alpha * static_cast<double>(E);
  double loss = 0.0;
  for (Index i = 0; i < E; ++i)
    loss += f(i) * probs.col(i).template cast<double>().sum() / static_cast<double>(T);
  if (dprobs.size() > 0) {
    for (Index i = 0; i < E; ++i)
      dprobs.col(i).array() += static_cast<S>(scale * f(i) / static_cast<double>(T));
  }
  return scale * loss;
}

template <typename S>
double router_z_loss(const ConstMatrixRefT<S>& logits, double beta, MatrixRefT<S> dlogits) {
  const Index T = logits.rows(), E = logits.cols();
  double loss = 0.0;
  for (Index t = 0; t < T; ++t) {
    const double lse = log_sum_exp(logits.row(t).template cast<double>());
    loss += lse * lse;
    if (dlogits.size() > 0) {
      // d(lse^2)/dz_j = 2 lse softmax_j.
      const double c = beta / static_cast<double>(T) * 2.0 * lse;
      for (Index j = 0; j < E; ++j)
        dlogits(t, j) += static_cast<S>(c * std::exp(static_cast<double>(logits(t, j)) - lse));
    }
  }
  return beta * loss / static_cast<double>(T);
}

double cv_squared(const ConstVectorRef& v, double scale, VectorRef dv) {
  constexpr double kEps = 1e-10;
  const auto n = static_cast<double>(v.size());
  const double m = v.mean();
  const double var = (v.array() - m).square().sum() / n;
  const double denom = m * m + kEps;
  if (dv.size() > 0) {
    for (Index i = 0; i < v.size(); ++i) {
      dv(i) += scale * (2.0 * (v(i) - m) / n / denom - var * 2.0 * m / (n * denom * denom));
    }
  }
  return var / denom;
}

template <typename S>
double importance_loss(const ConstMatrixRefT<S>& gates, double w, MatrixRefT<S> dgates) {
  const Vector importance = gates.template cast<double>().colwise().sum().transpose();
  Vector dimp = Vector::Zero(importance.size());
  const double cv2 = cv_squared(importance, w, dimp);
  if (dgates.size() > 0) dgates.rowwise() += dimp.template cast<S>().transpose();
  return w * cv2;
}

namespace {
inline double normal_cdf(double u) { return 0.5 * std::erfc(-u * 0.70710678118654752440); }
inline double normal_pdf(double u) { return 0.39894228040143267794 * std::exp(-0.5 * u * u); }
}  // namespace

template <typename S>
double load_loss(const ConstMatrixRefT<S>& clean,
                 const ConstMatrixRefT<S>& noisy,
                 const ConstMatrixRefT<S>& sd,
                 int k,
                 double w,
                 MatrixRefT<S> dclean,
                 MatrixRefT<S> dnoisy,
                 MatrixRefT<S> dsd,
                 std::vector<Index>& scratch) {
  const Index T = clean.rows(), E = clean.cols();
  scratch.resize(static_cast<std::size_t>(k + 1));
  Index* top = scratch.data();
  // The threshold of P(x, i) is the k-th largest noisy logit among the other experts.
  auto threshold_index = [&](Index i) {
    bool in_top = false;
    for (Index q = 0; q < k; ++q) in_top = in_top || top[q] == i;
    return in_top ? top[k] : top[k - 1];
  };
  auto z = [&](Index t, Index i, Index j) {
    return (static_cast<double>(clean(t, i)) - noisy(t, j)) / sd(t, i);
  };
  Vector load = Vector::Zero(E);
  for (Index t = 0; t < T; ++t) {
    top_k_small(noisy.data() + t, E, noisy.outerStride(), k + 1, top);
    for (Index i = 0; i < E; ++i) load(i) += normal_cdf(z(t, i, threshold_index(i)));
  }
  Vector dload = Vector::Zero(E);
  const double cv2 = cv_squared(load, w, dload);
  if (dclean.size() > 0) {
    for (Index t = 0; t < T; ++t) {
      top_k_small(noisy.data() + t, E, noisy.outerStride(), k + 1, top);
      for (Index i = 0; i < E; ++i) {
        const Index j = threshold_index(i);
        const double u = z(t, i, j);
        const double g = dload(i) * normal_pdf(u) / sd(t, i);
        dclean(t, i) += static_cast<S>(g);
        dnoisy(t, j) -= static_cast<S>(g);
        dsd(t, i) -= static_cast<S>(g * u);
      }
    }
  }
  return w * cv2;
}

#define MOEKIT_DEEP_INSTANTIATE(S)                                                                 \
  template void softmax_rows<S>(const ConstMatrixRefT<S>&, MatrixRefT<S>);                         \
  template void softmax_rows_backward<S>(const ConstMatrixRefT<S>&, const ConstMatrixRefT<S>&,     \
                                         MatrixRefT<S>);                                           \
  template double load_balancing_loss<S>(const ConstMatrixRefT<S>&, const ConstVectorRef&, double, \
                                         MatrixRefT<S>);                                           \
  template double router_z_loss<S>(const ConstMatrixRefT<S>&, double, MatrixRefT<S>);              \
  template double importance_loss<S>(const ConstMatrixRefT<S>&, double, MatrixRefT<S>);            \
  template double load_loss<S>(const ConstMatrixRefT<S>&, const ConstMatrixRefT<S>&,               \
                               const ConstMatrixRefT<S>&, int, double, MatrixRefT<S>,              \
                               MatrixRefT<S>, MatrixRefT<S>, std::vector<Index>&);
MOEKIT_DEEP_INSTANTIATE(float)
MOEKIT_DEEP_INSTANTIATE(double)
#undef MOEKIT_DEEP_INSTANTIATE

}  // namespace moekit::deep
