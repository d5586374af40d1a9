#include "moekit/infer/predict.hpp"

#include "moekit/backend/estep_backend.hpp"
#include "moekit/core/parallel.hpp"

namespace moekit {

Matrix predict_posterior(const Model& model, const Dataset& data) {
  Matrix resp;
  CpuBackend().estep(model, data, resp, nullptr);
  return resp;
}

std::vector<Index> predict_class(const Model& model, const Dataset& data) {
  const Matrix resp = predict_posterior(model, data);
  std::vector<Index> out(static_cast<size_t>(resp.rows()));
  for (Index i = 0; i < resp.rows(); ++i) resp.row(i).maxCoeff(&out[static_cast<size_t>(i)]);
  return out;
}

Vector predict_log_density(const Model& model, const Dataset& data) {
  Matrix resp;
  Vector ll;
  CpuBackend().estep(model, data, resp, &ll);
  return ll;
}

Matrix predict_gate(const Model& model, const Dataset& data) {
  Matrix g(data.z.rows(), model.components());
  parallel_blocks(data.z.rows(), [&](Index, Index begin, Index size) {
    auto block = g.middleRows(begin, size);
    model.gate().log_weights(data.z.middleRows(begin, size), block);
    block.array() = block.array().exp();
  });
  return g;
}

Matrix predict_mean(const Model& model, const Dataset& data) {
  const Matrix g = predict_gate(model, data);
  const std::vector<Matrix> means = model.experts().predict_means(data.x);
  Matrix out = Matrix::Zero(data.x.rows(), model.experts().response_dim());
  for (Index k = 0; k < model.components(); ++k)
    out += (means[static_cast<size_t>(k)].array().colwise() * g.col(k).array()).matrix();
  return out;
}

}  // namespace moekit
