#include "moekit/deep/trainer.hpp"

#include "moekit/core/error.hpp"

#include <algorithm>
#include <numeric>

namespace moekit::deep {

void TrainOptions::validate() const {
  if (epochs < 0) throw InputError::option("epochs", std::to_string(epochs), "must be >= 0");
  if (batch_tokens < 1)
    throw InputError::option("batch_tokens", std::to_string(batch_tokens), "must be >= 1");
  adam.validate();
}

template <typename S>
TrainerT<S>::TrainerT(MoeLayerT<S>& layer, const TrainOptions& options)
    : layer_(layer), options_(options), adam_(options.adam), rng_(derive_seed(options.seed, 1)) {
  options_.validate();
  grads_.resize_zero(layer_.config());
}

template <typename S>
EpochRecord TrainerT<S>::train_epoch(const Matrix& x, const Matrix& y) {
  const Index n = x.rows(), d = layer_.config().dim, B = options_.batch_tokens;
  if (x.cols() != d || y.rows() != n || y.cols() != d)
    throw InputError::option("train data", "shape", "x and y must both be n x dim");
  if (n < B)
    throw InputError::option("batch_tokens", std::to_string(B), "must not exceed the rows of x");
  order_.resize(static_cast<std::size_t>(n));
  std::iota(order_.begin(), order_.end(), Index{0});
  // Fisher-Yates with uniform01 (portable, unlike std::shuffle's distribution).
  for (Index i = n - 1; i > 0; --i) {
    const auto j = static_cast<Index>(uniform01(rng_) * static_cast<double>(i + 1));
    std::swap(order_[static_cast<std::size_t>(i)], order_[static_cast<std::size_t>(j)]);
  }
  xb_.resize(B, d);
  yb_.resize(B, d);
  out_.resize(B, d);
  dy_.resize(B, d);
  dx_.resize(B, d);
  EpochRecord rec;
  rec.epoch = ++epoch_;
  rec.load = Vector::Zero(layer_.config().num_experts);
  const Index batches = n / B;
  ForwardContext ctx;
  ctx.training = true;
  ctx.rng = &rng_;
  ids_.resize(static_cast<std::size_t>(B));
  ctx.token_ids = &ids_;
  for (Index b = 0; b < batches; ++b) {
    for (Index i = 0; i < B; ++i) {
      const Index r = order_[static_cast<std::size_t>(b * B + i)];
      xb_.row(i) = x.row(r).template cast<S>();
      yb_.row(i) = y.row(r).template cast<S>();
      ids_[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(r);
    }
    const double aux = layer_.forward(xb_, ws_, out_, ctx);
    dy_ = out_ - yb_;
    const double scale = 1.0 / static_cast<double>(B * d);
    rec.loss += dy_.template cast<double>().squaredNorm() * scale;
    dy_ *= static_cast<S>(2.0 * scale);  // d/dy of the mean squared error
    grads_.set_zero();
    layer_.backward(xb_, dy_, ws_, grads_, dx_);
    adam_.step(layer_.params(), grads_);
    layer_.update_balance_bias(ws_);
    rec.aux_loss += aux;
    rec.load += ws_.f;
    rec.dropped += ws_.dropped;
  }
  rec.loss /= static_cast<double>(batches);
  rec.aux_loss /= static_cast<double>(batches);
  rec.load /= static_cast<double>(batches);
  rec.imbalance = load_imbalance(rec.load);
  return rec;
}

template <typename S>
std::vector<EpochRecord> TrainerT<S>::fit(const Matrix& x,
                                          const Matrix& y,
                                          const std::function<void(const EpochRecord&)>& on_epoch) {
  std::vector<EpochRecord> records;
  for (int e = 0; e < options_.epochs; ++e) {
    records.push_back(train_epoch(x, y));
    if (on_epoch) on_epoch(records.back());
  }
  return records;
}

template <typename S>
double TrainerT<S>::evaluate(const Matrix& x, const Matrix& y) {
  MoeWorkspaceT<S> ws;
  const MatrixT<S> xs = x.template cast<S>();
  MatrixT<S> out(x.rows(), x.cols());
  std::vector<std::int64_t> ids(static_cast<std::size_t>(x.rows()));
  std::iota(ids.begin(), ids.end(), std::int64_t{0});
  ForwardContext ctx;
  ctx.training = false;
  ctx.token_ids = &ids;
  layer_.forward(xs, ws, out, ctx);
  return (out.template cast<double>() - y).squaredNorm() / static_cast<double>(y.size());
}

template class TrainerT<float>;
template class TrainerT<double>;

}  // namespace moekit::deep
