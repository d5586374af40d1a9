// The CPU E-step of Gaussian mixtures in tiles of eight rows (kernels/gaussian_tiles.hpp,
// model/gaussian_mixture_estep.hpp): its vector exp and log against the C library, its
// moments against the GPU kernel's tiled algorithm on the same posteriors, with row weights,
// a tail of rows after the last full tile and the axis-aligned and spherical structures, and
// results that do not change with the number of threads.

#include "kernels/kernel_support.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/kernels/lanes.hpp"
#include "moekit/model/gaussian_mixture_estep.hpp"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace moekit;
using namespace moekit::testing;

namespace {

double ulps(double got, double want) {
  if (got == want) return 0.0;
  const double ulp =
      std::nextafter(std::abs(want), std::numeric_limits<double>::infinity()) - std::abs(want);
  return std::abs(got - want) / ulp;
}

// A Gaussian mixture fitted a few iterations on n rows of q dimensions (clusters apart in
// the first coordinate), optionally with row weights in [0, 2] (some exactly 0).
Fitted gmm(Index n, Index q, Index K, CovarianceStructure cov, bool weighted) {
  Rng rng(5);
  Dataset d;
  d.y.resize(n, q);
  for (Index i = 0; i < d.y.size(); ++i) d.y.data()[i] = standard_normal(rng);
  for (Index i = 0; i < n; ++i) d.y(i, 0) += 4.0 * static_cast<double>(i % K) + 100.0;
  d.x = Matrix::Ones(n, 1);
  d.z = Matrix::Ones(n, 1);
  if (weighted) {
    d.weights.resize(n);
    for (Index i = 0; i < n; ++i) d.weights(i) = i % 7 == 3 ? 0.0 : 2.0 * uniform01(rng);
  }
  ModelSpec spec;
  spec.K = K;
  spec.covariance = cov;
  Model m(spec, q, 1, 1);
  FitOptions o;
  o.max_iter = 3;
  o.split_merge = 0;
  EmFitter(o).fit(m, d);
  return {fmt::format("n = {} q = {} K = {} {}{}", n, q, K, to_string(cov),
                      weighted ? " weighted" : ""),
          std::move(m), std::move(d)};
}

// The CPU backend's E-step, with the posteriors fetched (a constant gate's leaves them out).
Posteriors cpu_estep(const Fitted& f, int threads) {
  const ScopedNumThreads scope(threads);
  Posteriors post;
  CpuBackend().estep(f.model, f.data, post);
  CpuBackend().fetch(f.model, f.data, post);
  return post;
}

}  // namespace

TEST_CASE("vector exp and log agree with the C library", "[tiles]") {
  using kernels::Lanes;
  Rng rng(3);
  double worst_exp = 0.0, worst_log = 0.0;
  for (int t = 0; t < 20000; ++t) {
    Lanes x, y;
    for (int l = 0; l < kernels::kLanes; ++l) {
      x[l] = (uniform01(rng) - 0.9) * 800.0;  // [-720, 80]: underflow to 0 included
      y[l] = std::exp((uniform01(rng) - 0.5) * 1400.0);
    }
    const Lanes ex = kernels::exp_lanes(x), ly = kernels::log_lanes(y);
    for (int l = 0; l < kernels::kLanes; ++l) {
      const double want = std::exp(x[l]);
      if (want < std::numeric_limits<double>::min())
        CHECK(ex[l] == 0.0);  // subnormal results are flushed
      else
        worst_exp = std::max(worst_exp, ulps(ex[l], want));
      worst_log = std::max(worst_log, ulps(ly[l], std::log(y[l])));
    }
  }
#if defined(__AVX512F__)
  CHECK(worst_exp <= 1.0);  // within 0.6 ulp of exp, and std::exp within 0.5
#else
  CHECK(worst_exp <= 2.0);
#endif
  CHECK(worst_log <= 3.0);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const Lanes special = {-inf, inf, nan, 0.0, -800.0, 709.5, 710.0, 1.0};
  const Lanes ex = kernels::exp_lanes(special);
  CHECK(ex[0] == 0.0);
  CHECK(ex[1] == inf);
  CHECK(std::isnan(ex[2]));
  CHECK(ex[3] == 1.0);
  CHECK(ex[4] == 0.0);
  CHECK(ex[5] == std::exp(709.5));
  CHECK(ex[6] == inf);
  CHECK(ulps(ex[7], std::exp(1.0)) <= 1.0);
  // The posteriors' variant: bitwise exp_lanes on (-inf, 0] and NaN, with no C-library path.
  for (int t = 0; t < 2000; ++t) {
    Lanes x;
    for (int l = 0; l < kernels::kLanes; ++l) x[l] = -uniform01(rng) * 760.0;
    const Lanes a = kernels::exp_lanes(x), b = kernels::exp_nonpositive_lanes(x);
    for (int l = 0; l < kernels::kLanes; ++l) CHECK(a[l] == b[l]);
  }
  const Lanes np =
      kernels::exp_nonpositive_lanes(Lanes{-inf, nan, 0.0, -0.0, -800.0, -1.0, -708.0, -1e-300});
  CHECK(np[0] == 0.0);
  CHECK(std::isnan(np[1]));
  CHECK(np[2] == 1.0);
  CHECK(np[3] == 1.0);
  CHECK(np[4] == 0.0);
  CHECK(ulps(np[5], std::exp(-1.0)) <= 1.0);
  CHECK(ulps(np[6], std::exp(-708.0)) <= 2.0);
  CHECK(np[7] == 1.0);
  // log1p for x > -1 (the t experts' log(1 + delta / nu)): tiny, moderate and huge x.
  double worst_log1p = 0.0;
  for (int t = 0; t < 20000; ++t) {
    Lanes x;
    for (int l = 0; l < kernels::kLanes; ++l) {
      const double e = std::exp((uniform01(rng) - 0.6) * 100.0);  // 1e-26 .. 1e17
      x[l] = l % 3 == 0 ? -e / (1.0 + e) : e;
    }
    const Lanes lp = kernels::log1p_lanes(x);
    for (int l = 0; l < kernels::kLanes; ++l)
      worst_log1p = std::max(worst_log1p, ulps(lp[l], std::log1p(x[l])));
  }
  CHECK(worst_log1p <= 4.0);
  const Lanes lp = kernels::log1p_lanes(Lanes{0.0, inf, nan, 1e-300, 1.0, -0.5, 1e300, 3.0});
  CHECK(lp[0] == 0.0);
  CHECK(lp[1] == inf);
  CHECK(std::isnan(lp[2]));
  CHECK(lp[3] == 1e-300);
  CHECK(ulps(lp[4], std::log(2.0)) <= 1.0);
  CHECK(ulps(lp[5], std::log(0.5)) <= 1.0);
  CHECK(ulps(lp[6], std::log(1e300)) <= 1.0);
  const Lanes lx = kernels::log_lanes(Lanes{0.0, -1.0, inf, nan, 1e-310, 1.0, 2.0, 0.5});
  CHECK(lx[0] == -inf);
  CHECK(std::isnan(lx[1]));
  CHECK(lx[2] == inf);
  CHECK(std::isnan(lx[3]));
  CHECK(lx[4] == std::log(1e-310));
  CHECK(lx[5] == 0.0);
  CHECK(ulps(lx[6], std::log(2.0)) <= 1.0);
  CHECK(ulps(lx[7], std::log(0.5)) <= 1.0);
}

TEST_CASE("vector log1p of a logit's tail, and lanes applied to a ragged array", "[tiles]") {
  using kernels::Lanes;
  Rng rng(5);
  double worst = 0.0;
  for (int t = 0; t < 20000; ++t) {
    Lanes x;
    // exp(-|eta|) for |eta| up to 60: from 1 down to 1e-26, where log(1 + t) would be 0.
    for (int l = 0; l < kernels::kLanes; ++l) x[l] = std::exp(-60.0 * uniform01(rng));
    const Lanes y = kernels::log1p_unit_lanes(x);
    for (int l = 0; l < kernels::kLanes; ++l) worst = std::max(worst, ulps(y[l], std::log1p(x[l])));
  }
  CHECK(worst <= 3.0);
  const Lanes edge =
      kernels::log1p_unit_lanes(Lanes{0.0, 1.0, 1e-300, std::nan(""), 0.5, 0.25, 1e-17, 0.75});
  CHECK(edge[0] == 0.0);
  CHECK(ulps(edge[1], std::log(2.0)) <= 1.0);
  CHECK(edge[2] == 1e-300);
  CHECK(std::isnan(edge[3]));
  // apply_lanes: 8 at a time, then the 5 left over through one padded group, in place.
  std::vector<double> v(13);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5 + static_cast<double>(i);
  const std::vector<double> in = v;
  kernels::apply_lanes(v.data(), v.data(), static_cast<std::int64_t>(v.size()),
                       [](Lanes a) { return kernels::log_lanes(a); });
  for (size_t i = 0; i < v.size(); ++i) CHECK(ulps(v[i], std::log(in[i])) <= 3.0);
}

TEST_CASE("the E-step's moments = the tiled moments of its posteriors", "[tiles]") {
  for (const Fitted& f : {gmm(5003, 3, 4, CovarianceStructure::Full, false),
                          gmm(4099, 8, 3, CovarianceStructure::Full, true),
                          gmm(2051, 5, 2, CovarianceStructure::Diag, false),
                          gmm(777, 2, 3, CovarianceStructure::TiedSpherical, true),
                          gmm(3001, 6, 4, CovarianceStructure::Spherical, false)}) {
    CAPTURE(f.name);
    const Posteriors post = cpu_estep(f, 2);
    REQUIRE(post.moments);
    const Matrix w = weighted_rows(f.data, post.leaves());
    kernels::GaussianRegressionStorage s;
    f.model.experts().gaussian_regression()->export_pack(s);
    const GaussianMoments ref = tiled_gaussian_moments(s.view(), f.data.x, f.data.y, w);
    const bool diagonal = is_diagonal(f.model.spec().covariance);
    const bool spherical = is_spherical(f.model.spec().covariance);
    for (Index k = 0; k < f.model.components(); ++k) {
      const Matrix& got = post.moments->M[static_cast<size_t>(k)];
      Matrix want = ref.M[static_cast<size_t>(k)];
      const double scale = want.cwiseAbs().maxCoeff();
      // Axis-aligned structures read only the scatter's diagonal, spherical ones its trace
      // (in the first diagonal entry): the rest is not summed.
      if (spherical) {
        const double trace = want.bottomRightCorner(want.rows() - 1, want.cols() - 1).trace();
        want.bottomRightCorner(want.rows() - 1, want.cols() - 1).setZero();
        want(1, 1) = trace;
      }
      for (Index a = 0; a < got.rows(); ++a)
        for (Index b = 0; b < got.cols(); ++b) {
          const bool summed = !diagonal || a == 0 || b == 0 || a == b;
          CHECK(std::abs(got(a, b) - (summed ? want(a, b) : 0.0)) <= 1e-12 * scale);
        }
    }
    CHECK((post.leaf_masses - w.colwise().sum().transpose()).cwiseAbs().maxCoeff() <=
          1e-10 * w.sum());
    const Vector var = response_variance(f.data.y);
    CHECK((post.moments->response_variance - var).cwiseAbs().maxCoeff() <= 1e-13 * var.maxCoeff());
    // The posteriors and the log-likelihood are Model::e_step's.
    Posteriors plain;
    f.model.e_step(f.data, plain);
    CHECK_FALSE(plain.moments);
    CHECK(plain.leaves() == post.leaves());
    CHECK(plain.loglik == post.loglik);
  }
}

TEST_CASE("the tiled E-step gives the same bits on 1 and 2 threads", "[tiles]") {
  const Fitted f = gmm(3 * kBlockRows + 13, 8, 5, CovarianceStructure::Full, true);
  const Posteriors one = cpu_estep(f, 1), two = cpu_estep(f, 2);
  CHECK(one.loglik == two.loglik);
  CHECK(one.leaves() == two.leaves());
  CHECK(one.row_loglik == two.row_loglik);
  CHECK(one.leaf_masses == two.leaf_masses);
  for (size_t k = 0; k < one.moments->M.size(); ++k) CHECK(one.moments->M[k] == two.moments->M[k]);
  CHECK(one.moments->response_variance == two.moments->response_variance);
}

TEST_CASE("a constant gate's E-step leaves the posteriors to fetch(), with the same sums",
          "[tiles]") {
  // EM's iterations need only the moments, the masses and the row log-likelihoods of a
  // Gaussian mixture with a constant gate: the n x K posteriors are written only when the
  // fit fetches them, by the same pass (bitwise the same sums).
  const Fitted f = gmm(2 * kBlockRows + 5, 4, 3, CovarianceStructure::Full, true);
  Posteriors lazy;
  const CpuBackend cpu;
  cpu.estep(f.model, f.data, lazy);
  CHECK_FALSE(lazy.has_rows());
  CHECK(lazy.row_loglik.size() == f.data.rows());
  CHECK(cpu.common_row_loglik(f.model, f.data, lazy) == lazy.row_loglik);
  CHECK_FALSE(lazy.has_rows());  // the row log-likelihoods were there: nothing recomputed
  const double loglik = lazy.loglik;
  const Vector masses = lazy.leaf_masses, row_loglik = lazy.row_loglik;
  const std::vector<Matrix> M = lazy.moments->M;
  cpu.fetch(f.model, f.data, lazy);
  REQUIRE(lazy.has_rows());
  CHECK(lazy.loglik == loglik);
  CHECK(lazy.leaf_masses == masses);
  CHECK(lazy.row_loglik == row_loglik);
  for (size_t k = 0; k < M.size(); ++k) CHECK(lazy.moments->M[k] == M[k]);
  Posteriors plain;
  f.model.e_step(f.data, plain);
  CHECK(lazy.leaves() == plain.leaves());
}

TEST_CASE("the responses' variance is reused from the moments of the same responses only",
          "[tiles]") {
  // A fitter's E-steps read one data set: the second E-step takes the variance from the
  // moments it replaces (GaussianMoments::variance_source) and gives the sums of a fresh one,
  // bit for bit. Responses in other storage are summed again.
  const Fitted f = gmm(3 * kBlockRows + 11, 3, 2, CovarianceStructure::Diag, false);
  const CpuBackend cpu;
  Posteriors fresh, reused;
  cpu.estep(f.model, f.data, fresh);
  REQUIRE(fresh.moments);
  CHECK(fresh.moments->variance_source == GaussianMoments::Source::of(f.data.y));
  CHECK((fresh.moments->response_variance - response_variance(f.data.y)).cwiseAbs().maxCoeff() <=
        1e-12 * response_variance(f.data.y).maxCoeff());
  cpu.estep(f.model, f.data, reused);
  cpu.estep(f.model, f.data, reused);  // the reuse
  REQUIRE(reused.moments);
  CHECK(reused.moments->response_variance == fresh.moments->response_variance);
  CHECK(reused.loglik == fresh.loglik);
  for (size_t k = 0; k < fresh.moments->M.size(); ++k)
    CHECK(reused.moments->M[k] == fresh.moments->M[k]);
  // Other responses (a scaled copy, in other storage) through the same Posteriors: their own
  // variance, not the cached one.
  Dataset scaled = f.data;
  scaled.y *= 3.0;
  cpu.estep(f.model, scaled, reused);
  REQUIRE(reused.moments);
  CHECK(reused.moments->variance_source == GaussianMoments::Source::of(scaled.y));
  CHECK((reused.moments->response_variance - 9.0 * fresh.moments->response_variance)
            .cwiseAbs()
            .maxCoeff() <= 1e-12 * 9.0 * fresh.moments->response_variance.maxCoeff());
}

TEST_CASE("a zero-density row counts only when its weight is not zero", "[tiles]") {
  // Spherical structures keep the squared distance, which overflows here (0 * inf).
  for (CovarianceStructure cov : {CovarianceStructure::Full, CovarianceStructure::Spherical}) {
    CAPTURE(to_string(cov));
    check_far_row_counts_by_weight(gmm(100, 2, 2, cov, true));
  }
}

TEST_CASE("models outside the tiles take the general E-step", "[tiles]") {
  Posteriors post;
  const Fitted wide = gmm(200, 9, 2, CovarianceStructure::Diag, false);  // q > 8
  CHECK_FALSE(gaussian_mixture_estep(wide.model, wide.data, post, true));
  const Fitted linear =
      fitted("tonedata", "tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2);
  CHECK_FALSE(gaussian_mixture_estep(linear.model, linear.data, post, true));
  CHECK_FALSE(post.has_rows());
}
