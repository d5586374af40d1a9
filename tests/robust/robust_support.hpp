#pragma once
// Helpers of the robust-expert tests: models by name, simulated MoE regressions drawn with
// the experts' own sample(), the observed-data score, a Nelder-Mead optimiser and the tone
// perception data with and without outliers.

#include "moekit/core/rng.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/infer/simulate.hpp"
#include "moekit/model/model.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

namespace moekit::robust_test {

inline Dataset dataset_of(const Matrix& x, const Matrix& y) {
  Dataset d;
  d.y = y;
  d.x = x;
  d.z = x;
  for (Index i = 0; i < x.rows(); ++i) d.lines.push_back(i + 2);
  return d;
}

inline Model make_model(const std::string& experts,
                        const std::string& gate,
                        Index K,
                        Index q,
                        Index p,
                        double df = 0.0,
                        CovarianceStructure cov = CovarianceStructure::Full,
                        double reg_covar = 1e-6) {
  ModelSpec s;
  s.experts = experts;
  s.gate = gate;
  s.K = K;
  s.df = df;
  s.covariance = cov;
  s.reg_covar = reg_covar;
  for (Index j = 0; j < p; ++j)
    s.data.x_names.push_back(j ? "x" + std::to_string(j) : "(Intercept)");
  s.data.z_names = s.data.x_names;
  return Model(s, q, p, p);
}

// x = [1, u] with u uniform on (-2, 2); labels from the model's gate; y from its experts.
inline Dataset simulate(const Model& m, Index n, Rng& rng, std::vector<Index>* labels = nullptr) {
  Matrix x(n, 2);
  for (Index i = 0; i < n; ++i) x.row(i) << 1.0, 4.0 * uniform01(rng) - 2.0;
  Dataset d = dataset_of(x, Matrix::Zero(n, m.experts().response_dim()));
  Simulation s = moekit::simulate(m, d, rng);
  d.y = std::move(s.y);
  if (labels) *labels = std::move(s.component);
  return d;
}

inline double loglik_of(const Model& m, const Dataset& d) {
  return predict_log_density(m, d).sum();
}

// Fisher's identity: the observed-data score is the Q-function score at resp = posterior.
inline Vector observed_score(const Model& m, const Dataset& d) {
  const Matrix resp = predict_posterior(m, d);
  Vector s(m.num_params());
  s << m.gate().score(d.z, resp), m.experts().score(d.x, d.y, resp);
  return s;
}

// Largest relative difference between the analytic score and central differences of the
// log-likelihood.
inline double score_fd_error(const Model& m, const Dataset& d) {
  const Vector analytic = observed_score(m, d);
  const Vector theta = m.parameters();
  double worst = 0.0;
  for (Index j = 0; j < theta.size(); ++j) {
    const double h = 1e-6 * std::max(1.0, std::abs(theta(j)));
    Model a = m, b = m;
    Vector tp = theta, tm = theta;
    tp(j) += h;
    tm(j) -= h;
    a.set_parameters(tp);
    b.set_parameters(tm);
    const double fd = (loglik_of(a, d) - loglik_of(b, d)) / (2 * h);
    worst = std::max(worst, std::abs(fd - analytic(j)) / std::max(1.0, std::abs(fd)));
  }
  return worst;
}

// Nelder & Mead (1965) maximisation of f from x0 with initial steps `step`, restarted from
// the best point until a restart gains nothing (standard coefficients 1, 2, 1/2, 1/2).
inline Vector nelder_mead_max(const std::function<double(const Vector&)>& f,
                              Vector x0,
                              double step,
                              int max_evals,
                              double* best_value) {
  const Index d = x0.size();
  double best = f(x0);
  int evals = 1;
  for (int restart = 0; restart < 10 && evals < max_evals; ++restart) {
    std::vector<Vector> xs{x0};
    std::vector<double> fs{best};
    for (Index j = 0; j < d; ++j) {
      Vector x = x0;
      x(j) += step * std::max(1.0, std::abs(x0(j)));
      xs.push_back(x);
      fs.push_back(f(x));
      ++evals;
    }
    const double start = best;
    for (int it = 0; it < 200 * static_cast<int>(d) && evals < max_evals; ++it) {
      std::vector<size_t> order(xs.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fs[a] > fs[b]; });
      std::vector<Vector> nx;
      std::vector<double> nf;
      for (size_t o : order) {
        nx.push_back(xs[o]);
        nf.push_back(fs[o]);
      }
      xs = nx;
      fs = nf;
      if (std::abs(fs.front() - fs.back()) <= 1e-15 * (1.0 + std::abs(fs.front()))) break;
      Vector centroid = Vector::Zero(d);
      for (Index j = 0; j < d; ++j) centroid += xs[static_cast<size_t>(j)];
      centroid /= static_cast<double>(d);
      const Vector& worst = xs.back();
      const Vector xr = centroid + (centroid - worst);
      const double fr = f(xr);
      ++evals;
      if (fr > fs.front()) {
        const Vector xe = centroid + 2.0 * (centroid - worst);
        const double fe = f(xe);
        ++evals;
        if (fe > fr) {
          xs.back() = xe;
          fs.back() = fe;
        } else {
          xs.back() = xr;
          fs.back() = fr;
        }
      } else if (fr > fs[fs.size() - 2]) {
        xs.back() = xr;
        fs.back() = fr;
      } else {
        const Vector xc = centroid + 0.5 * (worst - centroid);
        const double fc = f(xc);
        ++evals;
        if (fc > fs.back()) {
          xs.back() = xc;
          fs.back() = fc;
        } else {
          for (size_t j = 1; j < xs.size(); ++j) {
            xs[j] = xs[0] + 0.5 * (xs[j] - xs[0]);
            fs[j] = f(xs[j]);
            ++evals;
          }
        }
      }
    }
    const auto it = std::max_element(fs.begin(), fs.end());
    x0 = xs[static_cast<size_t>(it - fs.begin())];
    best = *it;
    if (!(best > start + 1e-14 * std::abs(start))) break;
    step *= 0.5;
  }
  *best_value = best;
  return x0;
}

// The tone perception data (Cohen 1984; datasets/tonedata.csv), `tuned ~ stretchratio`.
// With `outliers`, ten gross outliers in y are appended (deterministic): stretchratio
// spread over the observed range (1.4, 1.56, ..., 2.84) and tuned between 4.5 and 5.3, above
// every observed value (at most 3.49), in an order that puts them on no line. Outliers in
// y as in the t-MoE and Laplace-MoE studies; high-leverage outliers such as the ten copies
// of (0, 4) of Yao, Wei & Yu (2014) also defeat t and Laplace mixtures of regressions (as
// that paper reports), so they are not used here.
inline Dataset tonedata(bool outliers) {
  const CsvTable table = read_csv(std::string(MOEKIT_DATASETS_DIR) + "/tonedata.csv");
  DataSpec spec;
  spec.formula = "tuned ~ stretchratio";
  Dataset d = make_dataset(table, spec);
  if (outliers) {
    const Index n = d.rows(), extra = 10;
    d.y.conservativeResize(n + extra, 1);
    d.x.conservativeResize(n + extra, 2);
    d.z.conservativeResize(n + extra, 2);
    for (Index i = 0; i < extra; ++i) {
      const double x = 1.4 + 0.16 * static_cast<double>(i);
      d.y(n + i, 0) = 4.5 + 0.2 * static_cast<double>((3 * i) % 5);
      d.x.row(n + i) << 1.0, x;
      d.z.row(n + i) << 1.0, x;
      d.lines.push_back(0);
    }
  }
  return d;
}

}  // namespace moekit::robust_test
