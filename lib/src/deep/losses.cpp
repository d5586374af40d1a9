#include "moekit/deep/losses.hpp"

#include "moekit/deep/topk.hpp"

#include <cmath>

namespace moekit::deep {

void softmax_rows(const ConstMatrixRef& z, MatrixRef p) {
  const Index T = z.rows(), E = z.cols();
  for (Index t = 0; t < T; ++t) {
    double m = z(t, 0);
    for (Index j = 1; j < E; ++j) m = std::max(m, z(t, j));
    double s = 0.0;
    for (Index j = 0; j < E; ++j) s += (p(t, j) = std::exp(z(t, j) - m));
    const double inv = 1.0 / s;
    for (Index j = 0; j < E; ++j) p(t, j) *= inv;
  }
}

void softmax_rows_backward(const ConstMatrixRef& p, const ConstMatrixRef& dp, MatrixRef dz) {
  const Index T = p.rows(), E = p.cols();
  for (Index t = 0; t < T; ++t) {
    double dot = 0.0;
    for (Index j = 0; j < E; ++j) dot += p(t, j) * dp(t, j);
    for (Index j = 0; j < E; ++j) dz(t, j) += p(t, j) * (dp(t, j) - dot);
  }
}

double load_balancing_loss(const ConstMatrixRef& probs,
                           const ConstVectorRef& f,
                           double alpha,
                           MatrixRef dprobs) {
  const Index T = probs.rows(), E = probs.cols();
  const double scale = alpha * static_cast<double>(E);
  double loss = 0.0;
  for (Index i = 0; i < E; ++i) loss += f(i) * probs.col(i).mean();
  if (dprobs.size() > 0) {
    for (Index i = 0; i < E; ++i) dprobs.col(i).array() += scale * f(i) / static_cast<double>(T);
  }
  return scale * loss;
}

double router_z_loss(const ConstMatrixRef& logits, double beta, MatrixRef dlogits) {
  const Index T = logits.rows(), E = logits.cols();
  double loss = 0.0;
  for (Index t = 0; t < T; ++t) {
    double m = logits(t, 0);
    for (Index j = 1; j < E; ++j) m = std::max(m, logits(t, j));
    double s = 0.0;
    for (Index j = 0; j < E; ++j) s += std::exp(logits(t, j) - m);
    const double lse = m + std::log(s);
    loss += lse * lse;
    if (dlogits.size() > 0) {
      // d(lse^2)/dz_j = 2 lse softmax_j.
      const double c = beta / static_cast<double>(T) * 2.0 * lse;
      for (Index j = 0; j < E; ++j) dlogits(t, j) += c * std::exp(logits(t, j) - lse);
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

double importance_loss(const ConstMatrixRef& gates, double w, MatrixRef dgates) {
  const Vector importance = gates.colwise().sum().transpose();
  Vector dimp = Vector::Zero(importance.size());
  const double cv2 = cv_squared(importance, w, dimp);
  if (dgates.size() > 0) dgates.rowwise() += dimp.transpose();
  return w * cv2;
}

namespace {
inline double normal_cdf(double u) { return 0.5 * std::erfc(-u * 0.70710678118654752440); }
inline double normal_pdf(double u) { return 0.39894228040143267794 * std::exp(-0.5 * u * u); }
}  // namespace

double load_loss(const ConstMatrixRef& clean,
                 const ConstMatrixRef& noisy,
                 const ConstMatrixRef& sd,
                 int k,
                 double w,
                 MatrixRef dclean,
                 MatrixRef dnoisy,
                 MatrixRef dsd,
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
  Vector load = Vector::Zero(E);
  for (Index t = 0; t < T; ++t) {
    top_k_small(noisy.data() + t, E, noisy.outerStride(), k + 1, top);
    for (Index i = 0; i < E; ++i) {
      const Index j = threshold_index(i);
      load(i) += normal_cdf((clean(t, i) - noisy(t, j)) / sd(t, i));
    }
  }
  Vector dload = Vector::Zero(E);
  const double cv2 = cv_squared(load, w, dload);
  if (dclean.size() > 0) {
    for (Index t = 0; t < T; ++t) {
      top_k_small(noisy.data() + t, E, noisy.outerStride(), k + 1, top);
      for (Index i = 0; i < E; ++i) {
        const Index j = threshold_index(i);
        const double u = (clean(t, i) - noisy(t, j)) / sd(t, i);
        const double g = dload(i) * normal_pdf(u) / sd(t, i);
        dclean(t, i) += g;
        dnoisy(t, j) -= g;
        dsd(t, i) -= g * u;
      }
    }
  }
  return w * cv2;
}

}  // namespace moekit::deep
