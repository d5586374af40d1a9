#include "moekit/backend/estep_backend.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/logsumexp.hpp"
#include "moekit/core/parallel.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

EStepResult CpuBackend::estep(const Model& model,
                              const Dataset& data,
                              Matrix& resp,
                              Vector* row_loglik) const {
  const Index n = data.rows(), K = model.components();
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
      const auto line =
          r < static_cast<Index>(data.lines.size()) ? data.lines[static_cast<size_t>(r)] : r + 1;
      throw NumericalError(
          fmt::format("E-step: the row on line {} has zero or non-finite density under every "
                      "component (log-likelihood not finite)",
                      line));
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
