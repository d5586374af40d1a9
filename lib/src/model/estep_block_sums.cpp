#include "estep_block_sums.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

namespace moekit {

void EstepBlockSums::reduce(const std::vector<double>& storage,
                            const Dataset& data,
                            std::vector<double>& total,
                            Vector& variance) const {
  const Index n = data.rows();
  const size_t blocks = static_cast<size_t>(num_blocks(n));
  for (size_t b = 0; b < blocks; ++b)
    if (storage[b * per_block_ + 1] >= 0)
      throw NumericalError(
          fmt::format("E-step: the row on line {} has zero or non-finite density under every "
                      "component (log-likelihood not finite)",
                      data.line_of(static_cast<Index>(storage[b * per_block_ + 1]))));
  total.assign(summed_, 0.0);
  for (size_t b = 0; b < blocks; ++b)
    for (size_t s = 0; s < summed_; ++s) total[s] += storage[b * per_block_ + s];
  total[1] = 0.0;
  if (!moments_) {
    variance.resize(0);
    return;
  }
  if (!response_stats_) return;
  Vector mean = Vector::Zero(q_), m2 = Vector::Zero(q_);
  double count = 0.0;
  for (size_t b = 0; b < blocks; ++b) {
    const double* bm = storage.data() + b * per_block_ + summed_;
    const double nb = static_cast<double>(std::min<Index>(kBlockRows, n - b * kBlockRows)),
                 all = count + nb;
    for (int c = 0; c < q_; ++c) {
      const double delta = bm[c] - mean(c);
      mean(c) += delta * nb / all;
      m2(c) += bm[q_ + c] + delta * delta * count * nb / all;
    }
    count = all;
  }
  variance = n > 1 ? Vector(m2 / static_cast<double>(n - 1)) : Vector::Zero(q_);
}

}  // namespace moekit
