#include "moekit/fit/small_component.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moekit {

namespace {

constexpr double kLog2Pi = 1.8378770664093453;

// Each column's standard deviation (divisor rows - 1).
Vector column_sd(const ConstMatrixRef& y) {
  const Index n = y.rows();
  Vector sd(y.cols());
  for (Index j = 0; j < y.cols(); ++j) {
    const double mean = y.col(j).mean();
    sd(j) = n > 1 ? std::sqrt((y.col(j).array() - mean).square().sum() / static_cast<double>(n - 1))
                  : 0.0;
  }
  return sd;
}

}  // namespace

std::vector<SmallComponentWindow> small_component_windows(const ConstMatrixRef& y,
                                                          const ConstVectorRef& row_loglik,
                                                          Index m,
                                                          int per_column,
                                                          WindowRanking ranking) {
  std::vector<SmallComponentWindow> out;
  const Index n = y.rows();
  if (m < 1 || m > n || per_column <= 0) return out;
  const Vector sd = column_sd(y);
  const double log_weight = std::log(static_cast<double>(m) / static_cast<double>(n));
  const Index count = n - m + 1;
  std::vector<Index> order(static_cast<size_t>(n));
  std::vector<double> gains(static_cast<size_t>(count));
  for (Index c = 0; c < y.cols(); ++c) {
    std::iota(order.begin(), order.end(), Index{0});
    // Stable: rows with equal values keep their order, so the windows do not depend on the
    // sort's implementation.
    std::stable_sort(order.begin(), order.end(),
                     [&](Index a, Index b) { return y(a, c) < y(b, c); });
    for (Index start = 0; start < count; ++start) {
      const auto row = [&](Index t) { return order[static_cast<size_t>(start + t)]; };
      double gain = 0.0;
      for (Index j = 0; ranking == WindowRanking::Gain && j < y.cols(); ++j) {
        if (!(sd(j) > 0)) continue;  // a constant response: every window alike, no floor
        double mean = 0.0, ss = 0.0;
        for (Index t = 0; t < m; ++t) mean += y(row(t), j);
        mean /= static_cast<double>(m);
        for (Index t = 0; t < m; ++t) ss += (y(row(t), j) - mean) * (y(row(t), j) - mean);
        const double floor = kSmallComponentScaleFloor * sd(j);
        const double var = std::max(ss / static_cast<double>(m), floor * floor);
        // The maximised log-likelihood of the window's rows under a Gaussian of its own
        // (diagonal: the score only ranks windows, EM gives the new component its structure).
        gain -= 0.5 * static_cast<double>(m) * (kLog2Pi + std::log(var) + 1.0);
      }
      for (Index t = 0; t < m; ++t)
        gain += (ranking == WindowRanking::Gain ? log_weight : 0.0) - row_loglik(row(t));
      gains[static_cast<size_t>(start)] = gain;
    }
    std::vector<Index> starts(static_cast<size_t>(count));
    std::iota(starts.begin(), starts.end(), Index{0});
    std::stable_sort(starts.begin(), starts.end(), [&](Index a, Index b) {
      return gains[static_cast<size_t>(a)] > gains[static_cast<size_t>(b)];
    });
    // Greedy: the most promising window, then the next that shares no row with those taken
    // (neighbouring windows share most of their rows and would give the same start).
    std::vector<Index> taken;
    for (Index start : starts) {
      if (static_cast<int>(taken.size()) >= per_column) break;
      if (std::any_of(taken.begin(), taken.end(),
                      [&](Index t) { return start < t + m && t < start + m; }))
        continue;
      taken.push_back(start);
      SmallComponentWindow w;
      w.column = c;
      w.rows.assign(order.begin() + start, order.begin() + start + m);
      w.gain = gains[static_cast<size_t>(start)];
      out.push_back(std::move(w));
    }
  }
  return out;
}

Matrix small_component_start(const ConstMatrixRef& leaves, const SmallComponentWindow& window) {
  const Index K = leaves.cols();
  Matrix resp(leaves.rows(), K + 1);
  resp.leftCols(K) = leaves;
  resp.col(K).setZero();
  for (Index i : window.rows) {
    resp.row(i).setZero();
    resp(i, K) = 1.0;
  }
  return resp;
}

}  // namespace moekit
