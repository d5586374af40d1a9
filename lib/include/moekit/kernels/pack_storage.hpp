#pragma once
// Host storage behind the kernel packs: the families write their parameters here in the
// packs' layout (packs.hpp), and view() lends the pointers. A GPU backend copies the same
// vectors to the device.

#include "moekit/kernels/packs.hpp"

#include <vector>

namespace moekit::kernels {

struct GaussianRegressionStorage {
  int K = 0, p = 0, q = 0;
  std::vector<double> coef, chol, log_norm, inv_diag;

  GaussianRegressionPack<double> view() const {
    return {K, p, q, coef.data(), chol.data(), log_norm.data(), inv_diag.data()};
  }
};

struct GateStorage {
  GateKind kind = GateKind::Constant;
  int K = 0, r = 0;
  std::vector<double> values;

  GatePack<double> view() const { return {kind, K, r, values.data()}; }
};

struct FlatModelStorage {
  GaussianRegressionStorage experts;
  GateStorage gate;

  FlatModelPack<double> view() const { return {experts.view(), gate.view()}; }
};

}  // namespace moekit::kernels
