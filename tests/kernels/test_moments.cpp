// The moment statistics of Gaussian-regression experts: the tiled algorithm of the GPU
// kernel (run serially on the host) gives the plain Eigen sums; the M-step from them gives
// the M-step from the rows; and EM driven by a backend that keeps its rows "on a device"
// (moments and masses only, rows fetched on demand) reaches what the CPU backend reaches.

#include "kernels/kernel_support.hpp"

#include "moekit/kernels/dispatch.hpp"
#include "moekit/stats/gaussian_moments.hpp"

#include <catch2/catch.hpp>

using namespace moekit;
using namespace moekit::testing;

namespace {

std::vector<Fitted> problems() {
  std::vector<Fitted> out;
  out.push_back(fitted("faithful K = 3", "faithful.csv", "", "gaussian", "constant", 3));
  out.push_back(fitted("faithful K = 2 diag", "faithful.csv", "", "gaussian", "constant", 2,
                       CovarianceStructure::Diag));
  out.push_back(fitted("faithful K = 2 tied", "faithful.csv", "", "gaussian", "constant", 2,
                       CovarianceStructure::TiedFull));
  out.push_back(
      fitted("tonedata", "tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2));
  out.push_back(fitted("NOdata softmax", "NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 3));
  out.push_back(fitted("faithful bivariate regression", "faithful.csv", "eruptions + waiting ~ 1",
                       "linear", "constant", 2));
  return out;
}

GaussianMoments tiled(const Model& m, const Dataset& d, const Matrix& leaves) {
  kernels::GaussianRegressionStorage s;
  m.experts().gaussian_regression()->export_pack(s);
  return tiled_gaussian_moments(s.view(), d.x, d.y, leaves);
}

// A backend that behaves like the CUDA one, on the host: the E-step leaves no rows, only the
// log-likelihood, the masses and the moments; fetch() hands the rows over.
class HostDeviceBackend final : public EStepBackend {
 public:
  std::string name() const override { return "emulated device"; }
  void estep(const Model& model, const Dataset& data, Posteriors& out) const override {
    model.e_step(data, rows_);
    out.leaf_count = rows_.leaf_count;
    out.loglik = rows_.loglik;
    out.objective = rows_.objective;
    out.moments = tiled(model, data, rows_.leaves());
    out.leaf_masses = out.moments->masses();
    out.nodes.resize(0, rows_.nodes.cols());
    out.row_loglik.resize(0);
    if (model.gates_read_covariates()) fetch(model, data, out);
    ++esteps;
  }
  void fetch(const Model&, const Dataset&, Posteriors& out) const override {
    if (out.has_rows()) return;
    out.nodes = rows_.nodes;
    out.row_loglik = rows_.row_loglik;
    ++fetches;
  }
  mutable int esteps = 0, fetches = 0;

 private:
  mutable Posteriors rows_;
};

}  // namespace

TEST_CASE("tiled moments = Eigen moments", "[moments]") {
  for (const Fitted& f : problems()) {
    CAPTURE(f.name);
    Posteriors post;
    f.model.e_step(f.data, post);
    const GaussianMoments m = tiled(f.model, f.data, post.leaves());
    const std::vector<Matrix> ref = eigen_moments(f.model, f.data, post.leaves());
    REQUIRE(m.components() == static_cast<Index>(ref.size()));
    for (Index k = 0; k < m.components(); ++k)
      CHECK(max_rel_diff(m.M[static_cast<size_t>(k)], ref[static_cast<size_t>(k)]) <= 1e-12);
    CHECK((m.masses() - post.leaf_masses).cwiseAbs().maxCoeff() <= 1e-9);
  }
}

TEST_CASE("tiled moments over several blocks and a partial tile", "[moments]") {
  // 3 blocks of 4096 rows, the last one partial, and tiles of 32 rows with a tail.
  const Fitted f = simulated_gmm(2 * kernels::kMomentBlockRows + 1000 + 7, 3, 4);
  Posteriors post;
  f.model.e_step(f.data, post);
  const GaussianMoments m = tiled(f.model, f.data, post.leaves());
  const std::vector<Matrix> ref = eigen_moments(f.model, f.data, post.leaves());
  for (Index k = 0; k < m.components(); ++k)
    CHECK(max_rel_diff(m.M[static_cast<size_t>(k)], ref[static_cast<size_t>(k)]) <= 1e-12);
}

TEST_CASE("the M-step from moments = the M-step from the rows", "[moments]") {
  for (const Fitted& f : problems()) {
    CAPTURE(f.name);
    Posteriors post;
    f.model.e_step(f.data, post);
    // One EM step away from the optimum, so that the update is not the identity.
    Model rows(f.model), moments(f.model);
    rows.experts().fit(f.data.x, f.data.y, post.leaves() * 0.9 + post.leaves().reverse() * 0.1);
    Posteriors shifted = post;
    shifted.leaves() = post.leaves() * 0.9 + post.leaves().reverse() * 0.1;
    moments.experts().gaussian_regression()->fit_moments(tiled(moments, f.data, shifted.leaves()));
    const Vector a = rows.experts().parameters(), b = moments.experts().parameters();
    CHECK((a - b).cwiseAbs().maxCoeff() <= 1e-9 * std::max(1.0, a.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("EM with the rows kept on a device reaches the CPU backend's optimum", "[moments]") {
  for (Fitted& f : problems()) {
    CAPTURE(f.name);
    FitOptions o;
    o.restarts = 2;
    o.seed = 5;
    Model cpu(f.model), device(f.model);
    const FitResult a = EmFitter(o).fit(cpu, f.data);
    HostDeviceBackend backend;
    const FitResult b = EmFitter(o).fit(device, f.data, backend);
    CHECK(b.backend == "emulated device");
    CHECK(b.loglik == Approx(a.loglik).epsilon(1e-9));
    CHECK(b.iterations == a.iterations);
    CHECK(b.icl == Approx(a.icl).epsilon(1e-9));
    CHECK(backend.esteps > 0);
    // Rows come back at the end of every start (the final classification), every
    // iteration for a softmax gate, and before any re-seeding.
    CHECK(backend.fetches >= o.restarts);
  }
}

TEST_CASE("register moments (the GPU's kernel for small m) = Eigen moments", "[moments]") {
  for (const Fitted& f : problems()) {
    CAPTURE(f.name);
    Posteriors post;
    f.model.e_step(f.data, post);
    kernels::GaussianRegressionStorage s;
    f.model.experts().gaussian_regression()->export_pack(s);
    const kernels::MomentLayout L{s.K, s.p, s.q};
    REQUIRE(L.m() <= kernels::kMaxRegisterMoments);
    const std::vector<Matrix> ref = eigen_moments(f.model, f.data, post.leaves());
    const long n = static_cast<long>(f.data.rows());
    kernels::with_response_dim(L.m(), [&](auto M) {
      constexpr int m = decltype(M)::value;
      if constexpr (m > 0) {
        for (int k = 0; k < L.K; ++k) {
          std::vector<double> acc(static_cast<size_t>(L.per_expert()), 0.0);
          for (long i = 0; i < n; ++i)
            kernels::moments_add_row<m>(s.view(), k, f.data.x.data() + i, n, f.data.y.data() + i, n,
                                        post.leaves()(i, k), acc.data());
          const GaussianMoments g = GaussianMoments::unpack({1, L.p, L.q}, acc.data(), Vector());
          CHECK(max_rel_diff(g.M[0], ref[static_cast<size_t>(k)]) <= 1e-12);
        }
      }
    });
  }
}
