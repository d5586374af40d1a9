#pragma once
// A small trainer: mini-batches of tokens, mean-squared-error task loss plus the layer's
// auxiliary losses, Adam, and (DeepSeek-V3) the bias update after each step. Records per
// epoch the loss and the expert load. Data are double (n x d); mini-batches are rounded to the
// layer's scalar S as they are gathered.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"
#include "moekit/deep/moe_layer.hpp"
#include "moekit/deep/optimizer.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace moekit::deep {

struct TrainOptions {
  int epochs = 10;
  Index batch_tokens = 256;
  AdamOptions adam;
  std::uint64_t seed = 0;  // shuffling and router noise

  void validate() const;
};

struct EpochRecord {
  int epoch = 0;
  double loss = 0.0;       // mean task loss (MSE over all entries) over the epoch's batches
  double aux_loss = 0.0;   // mean weighted auxiliary loss
  Vector load;             // mean fraction of routing choices per expert (f_i)
  double imbalance = 0.0;  // load_imbalance(load): max_i f_i / mean_i f_i
  Index dropped = 0;       // (token, expert) pairs dropped by the capacity over the epoch
};

template <typename S>
class TrainerT {
 public:
  TrainerT(MoeLayerT<S>& layer, const TrainOptions& options);

  // One pass over (x, y) in shuffled mini-batches (the last partial batch is skipped). Hash
  // routing uses the row index of a token in x as its id.
  EpochRecord train_epoch(const Matrix& x, const Matrix& y);
  // options.epochs passes; `on_epoch` (optional) sees each record as it is made.
  std::vector<EpochRecord> fit(const Matrix& x,
                               const Matrix& y,
                               const std::function<void(const EpochRecord&)>& on_epoch = {});
  // Mean task loss of the layer on (x, y) without noise or updates.
  double evaluate(const Matrix& x, const Matrix& y);

 private:
  MoeLayerT<S>& layer_;
  TrainOptions options_;
  AdamT<S> adam_;
  Rng rng_;
  MoeParamsT<S> grads_;
  MoeWorkspaceT<S> ws_;
  MatrixT<S> xb_, yb_, out_, dy_, dx_;
  std::vector<Index> order_;
  std::vector<std::int64_t> ids_;  // hash routing: the row index in x is the token id
  int epoch_ = 0;
};

using Trainer = TrainerT<float>;
using Trainer64 = TrainerT<double>;

}  // namespace moekit::deep
