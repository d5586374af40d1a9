// Auxiliary losses on hand-checkable inputs (their gradients are checked by finite
// differences in test_deep_gradients.cpp and against PyTorch in test_deep_reference.cpp).

#include "moekit/deep/losses.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using namespace moekit::deep;

TEST_CASE("deep: Switch load-balancing loss is alpha at uniform routing, E alpha when collapsed",
          "[deep][losses]") {
  const Index T = 8, E = 4;
  Matrix probs = Matrix::Constant(T, E, 0.25);
  Vector f = Vector::Constant(E, 0.25);
  Matrix none;
  CHECK(load_balancing_loss<double>(probs, f, 0.01, none) == Approx(0.01));
  // Every choice and all probability on expert 0: alpha * E * 1 * 1.
  probs.setZero();
  probs.col(0).setOnes();
  f.setZero();
  f(0) = 1.0;
  CHECK(load_balancing_loss<double>(probs, f, 0.01, none) == Approx(0.04));
  Matrix dprobs = Matrix::Zero(T, E);
  load_balancing_loss<double>(probs, f, 0.01, dprobs);
  CHECK(dprobs(3, 0) == Approx(0.01 * 4 / 8.0));
  CHECK(dprobs(3, 1) == 0.0);
}

TEST_CASE("deep: router z-loss is beta * mean (logsumexp)^2", "[deep][losses]") {
  Matrix z(2, 3);
  z << 0, 0, 0, 1, 2, 3;
  const double lse0 = std::log(3.0);
  const double lse1 = 3.0 + std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
  Matrix none;
  CHECK(router_z_loss<double>(z, 0.5, none) == Approx(0.5 * (lse0 * lse0 + lse1 * lse1) / 2));
}

TEST_CASE("deep: squared coefficient of variation", "[deep][losses]") {
  Vector v(4);
  v << 2, 2, 2, 2;
  Vector none;
  CHECK(cv_squared(v, 1.0, none) == Approx(0.0).margin(1e-15));
  v << 1, 2, 3, 6;  // mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5
  CHECK(cv_squared(v, 1.0, none) == Approx(3.5 / 9.0));
  Vector dv = Vector::Zero(4);
  cv_squared(v, 1.0, dv);
  const double h = 1e-6;
  for (Index i = 0; i < 4; ++i) {
    Vector vp = v, vm = v;
    vp(i) += h;
    vm(i) -= h;
    CHECK(dv(i) ==
          Approx((cv_squared(vp, 1.0, none) - cv_squared(vm, 1.0, none)) / (2 * h)).epsilon(1e-6));
  }
}

TEST_CASE("deep: importance and load losses vanish under perfect balance", "[deep][losses]") {
  // Two tokens, two experts, top-1: each expert gets one token with gate 1.
  Matrix gates(2, 2);
  gates << 1, 0, 0, 1;
  Matrix none;
  CHECK(importance_loss<double>(gates, 1.0, none) == Approx(0.0).margin(1e-12));
  gates << 1, 0, 1, 0;
  CHECK(importance_loss<double>(gates, 1.0, none) ==
        Approx(1.0));  // importance (2, 0): var 1, mean 1
  // Symmetric clean/noisy logits and equal noise scales: equal loads.
  Matrix clean(2, 2), noisy(2, 2), sd = Matrix::Ones(2, 2);
  clean << 1, 0, 0, 1;
  noisy = clean;
  std::vector<Index> scratch;
  CHECK(load_loss<double>(clean, noisy, sd, 1, 1.0, none, none, none, scratch) ==
        Approx(0.0).margin(1e-12));
}
