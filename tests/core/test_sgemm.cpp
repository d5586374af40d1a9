// moekit::sgemm (core/sgemm.hpp) against a double product: every transpose, partial tiles and
// blocks, accumulation into a strided block, repeatability, and its errors.

#include "moekit/core/error.hpp"
#include "moekit/core/sgemm.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <random>

using moekit::Index;
using moekit::sgemm;
using moekit::sgemm_operand;
using moekit::SgemmOperand;

namespace {

Eigen::MatrixXf random_matrix(Index rows, Index cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Eigen::MatrixXf m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = u(gen);
  return m;
}

// |c - ref| <= tol * (sum_p |a_ip b_pj| + 1): float's rounding grows with the terms' sizes.
void check_close(const Eigen::MatrixXf& c,
                 const Eigen::MatrixXd& ref,
                 const Eigen::MatrixXd& magnitude) {
  REQUIRE(c.rows() == ref.rows());
  REQUIRE(c.cols() == ref.cols());
  double worst = 0.0;
  for (Index j = 0; j < c.cols(); ++j)
    for (Index i = 0; i < c.rows(); ++i)
      worst = std::max(worst, std::abs(c(i, j) - ref(i, j)) / (magnitude(i, j) + 1.0));
  CHECK(worst < 1e-5);
}

}  // namespace

TEST_CASE("sgemm: op(A) op(B) for every transpose, block edges and accumulation", "[sgemm]") {
  // Shapes around the kernel's tiles (32 x 12) and blocks (k 512, m 256): partial tiles,
  // several k and m blocks, and the layer's own shapes.
  const Index shapes[][3] = {{1, 1, 1},       {31, 7, 11},     {32, 12, 12},
                             {33, 13, 13},    {64, 1, 24},     {257, 513, 25},
                             {100, 1030, 37}, {512, 512, 100}, {5, 3, 2049}};
  unsigned seed = 1;
  for (const auto& s : shapes) {
    const Index m = s[0], k = s[1], n = s[2];
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const Eigen::MatrixXf a = ta ? random_matrix(k, m, seed++) : random_matrix(m, k, seed++);
        const Eigen::MatrixXf b = tb ? random_matrix(n, k, seed++) : random_matrix(k, n, seed++);
        const Eigen::MatrixXd ad =
            ta ? Eigen::MatrixXd(a.cast<double>().transpose()) : Eigen::MatrixXd(a.cast<double>());
        const Eigen::MatrixXd bd =
            tb ? Eigen::MatrixXd(b.cast<double>().transpose()) : Eigen::MatrixXd(b.cast<double>());
        const Eigen::MatrixXd product = ad * bd;
        const Eigen::MatrixXd magnitude = ad.cwiseAbs() * bd.cwiseAbs();
        SgemmOperand oa = sgemm_operand(a), ob = sgemm_operand(b);
        if (ta) oa = oa.transposed();
        if (tb) ob = ob.transposed();
        INFO("m " << m << " k " << k << " n " << n << " ta " << ta << " tb " << tb);

        Eigen::MatrixXf c = Eigen::MatrixXf::Constant(m, n, std::nanf(""));
        sgemm(oa, ob, c, false);  // overwrites: the NaN must not leak in
        check_close(c, product, magnitude);

        // Accumulating into a block of a larger matrix (outer stride != rows), the border
        // untouched.
        Eigen::MatrixXf big = Eigen::MatrixXf::Constant(m + 3, n + 2, 2.0f);
        sgemm(oa, ob, big.block(1, 1, m, n), true);
        const Eigen::MatrixXd shifted = product.array() + 2.0;
        check_close(big.block(1, 1, m, n), shifted, magnitude);
        CHECK(big.row(0).isConstant(2.0f));
        CHECK(big.row(m + 1).isConstant(2.0f));
        CHECK(big.col(0).isConstant(2.0f));
        CHECK(big.col(n + 1).isConstant(2.0f));

        // The same call gives the same bits (no state carried between calls).
        Eigen::MatrixXf again(m, n);
        sgemm(oa, ob, again, false);
        CHECK(again == c);
      }
    }
  }
}

TEST_CASE("sgemm: empty inner dimension and wrong shapes", "[sgemm]") {
  const Eigen::MatrixXf a(4, 0), b(0, 3);
  Eigen::MatrixXf c = Eigen::MatrixXf::Constant(4, 3, 5.0f);
  sgemm(sgemm_operand(a), sgemm_operand(b), c, true);
  CHECK(c.isConstant(5.0f));
  sgemm(sgemm_operand(a), sgemm_operand(b), c, false);
  CHECK(c.isZero());

  const Eigen::MatrixXf x = random_matrix(4, 5, 9), y = random_matrix(6, 3, 10);
  CHECK_THROWS_AS(sgemm(sgemm_operand(x), sgemm_operand(y), c, false), moekit::InputError);
  Eigen::MatrixXf wrong(4, 4);
  const Eigen::MatrixXf z = random_matrix(5, 3, 11);
  CHECK_THROWS_AS(sgemm(sgemm_operand(x), sgemm_operand(z), wrong, false), moekit::InputError);
}
