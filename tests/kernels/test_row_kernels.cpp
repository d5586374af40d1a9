// The per-row kernels (moekit/kernels/row_math.hpp) that the CPU E-step and the CUDA kernels
// share give the E-step of the families' own Eigen code: every covariance structure, a
// design, a softmax gate, response dimensions with an unrolled (q <= 8) and a run-time loop,
// and row counts that leave a tail after the blocks of eight rows.

#include "kernels/kernel_support.hpp"

#include "moekit/core/error.hpp"
#include "moekit/kernels/row_math.hpp"

#include <fmt/format.h>

#include <catch2/catch.hpp>

using namespace moekit;
using namespace moekit::testing;

namespace {

void check_same_estep(const Fitted& f) {
  CAPTURE(f.name);
  kernels::FlatModelStorage pack;
  std::string why;
  REQUIRE(f.model.export_flat_pack(pack, &why));
  Posteriors kernel;
  f.model.e_step(f.data, kernel);  // the kernel path
  const Posteriors eigen = eigen_estep(f.model, f.data);
  CHECK(std::abs(kernel.loglik - eigen.loglik) <= 1e-12 * std::abs(eigen.loglik));
  CHECK((kernel.leaves() - eigen.leaves()).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK((kernel.row_loglik - eigen.row_loglik).cwiseAbs().maxCoeff() <= 1e-11);
  CHECK((kernel.leaf_masses - eigen.leaves().colwise().sum().transpose()).cwiseAbs().maxCoeff() <=
        1e-9);
}

// A Gaussian mixture with random means and covariances in q dimensions on n rows.
Fitted random_gmm(Index n, Index q, Index K, CovarianceStructure cov) {
  Rng rng(11);
  Dataset d;
  d.y.resize(n, q);
  for (Index i = 0; i < d.y.size(); ++i) d.y.data()[i] = standard_normal(rng);
  d.y.col(0).array() += (Eigen::ArrayXd::LinSpaced(n, 0, 1) > 0.5).cast<double>() * 3.0;
  d.x = Matrix::Ones(n, 1);
  d.z = Matrix::Ones(n, 1);
  ModelSpec spec;
  spec.K = K;
  spec.covariance = cov;
  Model m(spec, q, 1, 1);
  FitOptions o;
  o.max_iter = 5;
  EmFitter(o).fit(m, d);
  return {fmt::format("random GMM q = {} K = {} {}", q, K, to_string(cov)), std::move(m),
          std::move(d)};
}

}  // namespace

TEST_CASE("kernel E-step = Eigen E-step: Gaussian experts, every structure", "[kernels]") {
  for (auto cov : mclust_structures())
    check_same_estep(fitted("faithful", "faithful.csv", "", "gaussian", "constant", 3, cov));
}

TEST_CASE("kernel E-step = Eigen E-step: unrolled and run-time response dimensions", "[kernels]") {
  check_same_estep(random_gmm(1003, 3, 4, CovarianceStructure::Full));  // q = 3 unrolled, tail 3
  check_same_estep(random_gmm(517, 11, 3, CovarianceStructure::Full));  // q = 11 at run time
  check_same_estep(random_gmm(64, 16, 2, CovarianceStructure::Diag));   // the largest q
}

TEST_CASE("kernel E-step = Eigen E-step: linear experts, constant and softmax gates", "[kernels]") {
  check_same_estep(
      fitted("tonedata", "tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2));
  check_same_estep(
      fitted("NOdata softmax", "NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 3));
  check_same_estep(fitted("faithful bivariate regression", "faithful.csv",
                          "eruptions + waiting ~ 1", "linear", "softmax", 2));
}

TEST_CASE("models outside the kernels say why", "[kernels]") {
  kernels::FlatModelStorage pack;
  std::string why;
  Problem tree = load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 4);
  tree.spec.set_shape(TreeShape::parse("2,2"));
  CHECK_FALSE(make_model(tree).export_flat_pack(pack, &why));
  CHECK(why.find("gating tree 2,2") != std::string::npos);
  Problem t = load_problem("NOdata.csv", "Equivalence ~ NO", "t", "constant", 2);
  CHECK_FALSE(make_model(t).export_flat_pack(pack, &why));
  CHECK(why == "t experts");
  Problem g = load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "gaussian", 2);
  CHECK_FALSE(make_model(g).export_flat_pack(pack, &why));
  CHECK(why == "the gaussian gate");
}

TEST_CASE("a row with zero density under every expert is reported, never NaN", "[kernels]") {
  Fitted f = fitted("faithful", "faithful.csv", "", "gaussian", "constant", 2);
  f.data.y(5, 0) = 1e200;
  Posteriors post;
  CHECK_THROWS_AS(f.model.e_step(f.data, post), NumericalError);
}
