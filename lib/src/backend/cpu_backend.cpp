#include "moekit/backend/estep_backend.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/logsumexp.hpp"
#include "moekit/core/parallel.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

namespace {

// Grouped data: every row of a group shares one component, so the group's posterior is
// proportional to g_k(z_g) prod_{i in g} p_k(y_i | x_i) (flexmix's grouped E-step; z is
// constant within a group). resp holds the experts' log-densities first, then the group
// posteriors broadcast to their rows; row_loglik the group's log-likelihood on each row.
EStepResult grouped_estep(const Model& model,
                          const Dataset& data,
                          Matrix& resp,
                          Vector* row_loglik) {
  const Index n = data.rows(), K = model.components(), G = data.groups();
  parallel_blocks(n, [&](Index, Index begin, Index size) {
    auto block = resp.middleRows(begin, size);
    model.experts().log_density(data.x.middleRows(begin, size), data.y.middleRows(begin, size),
                                block);
  });
  Matrix S(G, K);
  model.gate().log_weights(group_rows(data, data.z), S);
  for (Index i = 0; i < n; ++i) S.row(data.group[static_cast<size_t>(i)]) += resp.row(i);
  Vector lse(G);
  normalize_rows_log(S, lse);
  EStepResult out;
  for (Index g = 0; g < G; ++g) {
    if (!std::isfinite(lse(g))) {
      const Index r = data.group_first[static_cast<size_t>(g)];
      throw NumericalError(fmt::format(
          "E-step: the group whose first row is on line {} has zero or non-finite density "
          "under every component (log-likelihood not finite)",
          data.line_of(r)));
    }
    out.loglik += lse(g);  // group order: independent of the thread count
  }
  S.array() = S.array().exp();
  for (Index i = 0; i < n; ++i) {
    const Index g = data.group[static_cast<size_t>(i)];
    resp.row(i) = S.row(g);
    if (row_loglik) (*row_loglik)(i) = lse(g);
  }
  return out;
}

}  // namespace

EStepResult CpuBackend::estep(const Model& model,
                              const Dataset& data,
                              Matrix& resp,
                              Vector* row_loglik) const {
  const Index n = data.rows(), K = model.components();
  if (data.grouped()) {
    resp.resize(n, K);
    if (row_loglik) row_loglik->resize(n);
    return grouped_estep(model, data, resp, row_loglik);
  }
  resp.resize(n, K);
  if (row_loglik) row_loglik->resize(n);
  std::vector<double> block_loglik(static_cast<size_t>(num_blocks(n)), 0.0);
  std::vector<Index> bad_row(static_cast<size_t>(num_blocks(n)), -1);
  parallel_blocks(n, [&](Index b, Index begin, Index size) {
    auto block = resp.middleRows(begin, size);
    model.log_joint(data, begin, size, block);
    thread_local Vector lse;
    lse.resize(size);
    normalize_rows_log(block, lse);
    double sum = 0.0;
    for (Index i = 0; i < size; ++i) {
      if (!std::isfinite(lse(i))) {
        if (bad_row[static_cast<size_t>(b)] < 0) bad_row[static_cast<size_t>(b)] = begin + i;
        continue;
      }
      sum += lse(i);
    }
    block.array() = block.array().exp();
    block_loglik[static_cast<size_t>(b)] = sum;
    if (row_loglik) row_loglik->segment(begin, size) = lse;
  });
  for (Index r : bad_row)
    if (r >= 0) {
      throw NumericalError(
          fmt::format("E-step: the row on line {} has zero or non-finite density under every "
                      "component (log-likelihood not finite)",
                      data.line_of(r)));
    }
  EStepResult out;
  for (double v : block_loglik) out.loglik += v;  // block order: independent of the thread count
  return out;
}

std::unique_ptr<EStepBackend> make_backend(Device device) {
  if (device == Device::Cpu) return std::make_unique<CpuBackend>();
  throw InputError::option(
      "--device", "cuda",
      "this build has no CUDA E-step kernels yet (moekit info shows the GPU it sees); use "
      "--device cpu");
}

}  // namespace moekit
