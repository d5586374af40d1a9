#include "moekit/deep/topk.hpp"

#include <algorithm>

namespace moekit::deep {

template <typename S>
void top_k_small(const S* values, Index n, Index stride, Index k, Index* out) {
  for (Index r = 0; r < k; ++r) {
    Index best = -1;
    for (Index j = 0; j < n; ++j) {
      bool taken = false;
      for (Index q = 0; q < r; ++q) taken = taken || out[q] == j;
      if (taken) continue;
      // Strict '>' keeps the lower index on ties.
      if (best < 0 || values[j * stride] > values[best * stride]) best = j;
    }
    out[r] = best;
  }
}

template <typename S>
void top_k_large(
    const S* values, Index n, Index stride, Index k, std::vector<Index>& scratch, Index* out) {
  scratch.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) scratch[static_cast<std::size_t>(i)] = i;
  auto before = [&](Index a, Index b) {
    const S va = values[a * stride], vb = values[b * stride];
    return va > vb || (va == vb && a < b);
  };
  std::partial_sort(scratch.begin(), scratch.begin() + k, scratch.end(), before);
  std::copy(scratch.begin(), scratch.begin() + k, out);
}

template void top_k_small<float>(const float*, Index, Index, Index, Index*);
template void top_k_small<double>(const double*, Index, Index, Index, Index*);
template void top_k_large<float>(const float*, Index, Index, Index, std::vector<Index>&, Index*);
template void top_k_large<double>(const double*, Index, Index, Index, std::vector<Index>&, Index*);

}  // namespace moekit::deep
