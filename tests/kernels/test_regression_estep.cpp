// The CPU E-step of flat mixtures of linear experts in tiles of eight rows
// (model/regression_estep.hpp): its posteriors against the per-row kernels, its moments
// against the GPU kernel's tiled algorithm on the same posteriors (row weights, a softmax
// gate, two responses, a tail of rows after the last full tile), the M-step from the moments
// against the M-step from the rows, and results that do not change with the number of
// threads.

#include "kernels/kernel_support.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/kernels/row_math.hpp"
#include "moekit/model/regression_estep.hpp"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using namespace moekit::testing;

namespace {

// K linear experts in p - 1 covariates and q responses fitted a few iterations on n rows,
// optionally with a softmax gate and row weights in [0, 2] (some exactly 0).
Fitted regression(Index n, Index p, Index q, Index K, const std::string& gate, bool weighted) {
  Rng rng(11);
  Dataset d;
  d.x.resize(n, p);
  d.y.resize(n, q);
  for (Index i = 0; i < n; ++i) {
    d.x(i, 0) = 1.0;
    for (Index j = 1; j < p; ++j) d.x(i, j) = standard_normal(rng);
    const double k = static_cast<double>(i % K);
    for (Index c = 0; c < q; ++c)
      d.y(i, c) = (k - 1.0) * 3.0 + (1.0 - k) * d.x(i, 1 % p) + 0.5 * standard_normal(rng);
  }
  d.z = d.x;
  if (weighted) {
    d.weights.resize(n);
    for (Index i = 0; i < n; ++i) d.weights(i) = i % 7 == 3 ? 0.0 : 2.0 * uniform01(rng);
  }
  ModelSpec spec;
  spec.K = K;
  spec.experts = "linear";
  spec.gate = gate;
  spec.set_shape(TreeShape::flat(K));
  Model m(spec, q, p, p);
  FitOptions o;
  o.max_iter = 3;
  o.split_merge = 0;
  EmFitter(o).fit(m, d);
  return {fmt::format("n = {} p = {} q = {} K = {} {}{}", n, p, q, K, gate,
                      weighted ? " weighted" : ""),
          std::move(m), std::move(d)};
}

Posteriors cpu_estep(const Fitted& f, int threads) {
  const ScopedNumThreads scope(threads);
  Posteriors post;
  CpuBackend().estep(f.model, f.data, post);
  return post;
}

}  // namespace

TEST_CASE("linear experts: the tiled E-step = the per-row kernels, its moments the tiled ones",
          "[tiles]") {
  for (const Fitted& f :
       {regression(5003, 4, 1, 3, "constant", false), regression(4099, 3, 2, 4, "softmax", true),
        regression(777, 2, 1, 2, "softmax", false)}) {
    CAPTURE(f.name);
    const Posteriors post = cpu_estep(f, 2);
    REQUIRE(post.moments);
    const Index n = f.data.rows(), K = f.model.components();
    kernels::FlatModelStorage storage;
    REQUIRE(f.model.export_flat_pack(storage));
    const kernels::FlatModelPack<double> P = storage.view();
    double worst_post = 0.0, worst_ll = 0.0;
    for (Index i = 0; i < n; ++i) {
      double a[kernels::kMaxExperts], ll;
      kernels::flat_estep_rows<0, 1>(P, &f.data.x(i, 0), n, &f.data.y(i, 0), n, &f.data.z(i, 0), n,
                                     a, &ll);
      for (Index k = 0; k < K; ++k)
        worst_post = std::max(worst_post, std::abs(post.nodes(i, k) - a[k]));
      worst_ll = std::max(worst_ll, std::abs(post.row_loglik(i) - ll) / (1.0 + std::abs(ll)));
    }
    CHECK(worst_post <= 1e-13);
    CHECK(worst_ll <= 1e-14);
    const Matrix w = weighted_rows(f.data, post.leaves());
    const GaussianMoments ref =
        tiled_gaussian_moments(storage.experts.view(), f.data.x, f.data.y, w);
    for (Index k = 0; k < K; ++k) {
      const Matrix& got = post.moments->M[static_cast<size_t>(k)];
      const Matrix& want = ref.M[static_cast<size_t>(k)];
      CHECK((got - want).cwiseAbs().maxCoeff() <= 1e-12 * want.cwiseAbs().maxCoeff());
    }
    CHECK((post.leaf_masses - w.colwise().sum().transpose()).cwiseAbs().maxCoeff() <=
          1e-10 * w.sum());
    const Vector var = response_variance(f.data.y);
    CHECK((post.moments->response_variance - var).cwiseAbs().maxCoeff() <= 1e-13 * var.maxCoeff());
    // The M-step from the moments is the M-step from the rows.
    Model from_moments = f.model, from_rows = f.model;
    from_moments.m_step(f.data, post);
    Posteriors rows = post;
    rows.moments.reset();
    from_rows.m_step(f.data, rows);
    const Vector a = from_moments.parameters(), b = from_rows.parameters();
    CHECK((a - b).cwiseAbs().maxCoeff() <= 1e-9 * (1.0 + b.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("linear experts: the tiled E-step gives the same bits on 1 and 2 threads", "[tiles]") {
  const Fitted f = regression(3 * kBlockRows + 13, 4, 2, 3, "softmax", true);
  const Posteriors one = cpu_estep(f, 1), two = cpu_estep(f, 2);
  CHECK(one.loglik == two.loglik);
  CHECK(one.leaves() == two.leaves());
  CHECK(one.row_loglik == two.row_loglik);
  CHECK(one.leaf_masses == two.leaf_masses);
  for (size_t k = 0; k < one.moments->M.size(); ++k) CHECK(one.moments->M[k] == two.moments->M[k]);
  CHECK(one.moments->response_variance == two.moments->response_variance);
  // And so does a fit.
  Model a = f.model, b = f.model;
  FitOptions o;
  o.max_iter = 5;
  o.split_merge = 0;
  o.threads = 1;
  const FitResult ra = EmFitter(o).refine(a, f.data);
  o.threads = 2;
  const FitResult rb = EmFitter(o).refine(b, f.data);
  CHECK(ra.loglik == rb.loglik);
  CHECK(a.parameters() == b.parameters());
}

TEST_CASE("linear experts: a zero-density row counts only when its weight is not zero", "[tiles]") {
  check_far_row_counts_by_weight(regression(100, 3, 1, 2, "constant", true));
}

TEST_CASE("grouped rows and other experts take the general E-step", "[tiles]") {
  Posteriors post;
  const Fitted logistic =
      fitted("iris", "iris.csv", "Species ~ Petal.Length", "logistic", "constant", 2);
  CHECK_FALSE(linear_regression_estep(logistic.model, logistic.data, post, true));
  CHECK_FALSE(post.has_rows());
}
