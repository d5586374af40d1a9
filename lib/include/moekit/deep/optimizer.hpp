#pragma once
// Adam (Kingma & Ba 2015, Algorithm 1, with bias correction) and its decoupled weight-decay
// variant AdamW (Loshchilov & Hutter 2019) over the parameter arrays of a MoeParams. The
// moments are kept in the layer's scalar S, as PyTorch keeps them in the parameters' dtype.

#include "moekit/core/types.hpp"
#include "moekit/deep/moe_layer.hpp"

#include <cstdint>
#include <vector>

namespace moekit::deep {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // decoupled (AdamW); 0 is plain Adam

  void validate() const;  // throws InputError naming the field
};

template <typename S>
class AdamT {
 public:
  explicit AdamT(const AdamOptions& options = {});

  // One update of every array of `params` from the matching array of `grads` (same shapes).
  // Moment buffers are allocated on the first call and reused.
  void step(MoeParamsT<S>& params, MoeParamsT<S>& grads);

  std::int64_t steps() const { return t_; }
  const AdamOptions& options() const { return options_; }

 private:
  AdamOptions options_;
  std::vector<VectorT<S>> m_, v_;
  std::int64_t t_ = 0;
};

using Adam = AdamT<float>;
using Adam64 = AdamT<double>;

}  // namespace moekit::deep
