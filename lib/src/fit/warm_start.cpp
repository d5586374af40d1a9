#include "moekit/fit/warm_start.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

namespace moekit {

Model split_heaviest_component(const Model& model, const Dataset& data) {
  if (!model.tree().is_flat())
    throw InputError::option("--init-model", model.tree().to_string(),
                             "a model with a gating tree cannot be grown by one component; give "
                             "its own -k");
  const Index K = model.components(), n = data.rows();
  Posteriors post;
  model.e_step(data, post);
  Index j = 0;
  post.leaf_masses.maxCoeff(&j);
  // Splitting by the sign of the summed residual puts the two halves on either side of the
  // component's fit, whatever the family: EM then pulls them apart instead of keeping two
  // copies of one component (a symmetric fixed point).
  const Matrix mean = model.experts().predict_means(data.x)[static_cast<size_t>(j)];
  Matrix resp(n, K + 1);
  resp.leftCols(K) = post.leaves();
  resp.col(K).setZero();
  for (Index i = 0; i < n; ++i)
    if ((data.y.row(i) - mean.row(i)).sum() > 0) std::swap(resp(i, j), resp(i, K));
  ModelSpec spec = model.spec();
  spec.K = K + 1;
  spec.tree.clear();
  Model grown(spec, data.y.cols(), data.x.cols(), data.z.cols());
  const Posteriors start = grown.posteriors_from_leaves(resp);
  const MStepReport r = grown.m_step(data, start);
  if (!r.collapsed.empty())
    throw NumericalError(fmt::format(
        "--init-model: splitting component {} left a half too small to fit; start from -k {} "
        "without --init-model",
        j + 1, K + 1));
  return grown;
}

}  // namespace moekit
