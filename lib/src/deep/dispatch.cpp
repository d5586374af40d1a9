#include "moekit/deep/dispatch.hpp"

#include <algorithm>

namespace moekit::deep {

void build_dispatch(const Index* expert,
                    const Index* token,
                    Index num_pairs,
                    Index num_experts,
                    Index capacity,
                    Dispatch& out) {
  const auto ne = static_cast<std::size_t>(num_experts);
  out.num_experts = num_experts;
  out.counts.assign(ne, 0);
  out.kept.resize(static_cast<std::size_t>(num_pairs));
  // Pass 1: histogram; a pair is kept while its expert has room (pair order = priority).
  for (Index p = 0; p < num_pairs; ++p) {
    const auto e = static_cast<std::size_t>(expert[p]);
    const Index c = out.counts[e]++;
    out.kept[static_cast<std::size_t>(p)] = (capacity < 0 || c < capacity) ? 1 : 0;
  }
  // Pass 2: exclusive prefix sum of the kept counts.
  out.offsets.resize(ne + 1);
  out.offsets[0] = 0;
  for (std::size_t e = 0; e < ne; ++e) {
    const Index kept = capacity < 0 ? out.counts[e] : std::min(out.counts[e], capacity);
    out.offsets[e + 1] = out.offsets[e] + kept;
  }
  // Pass 3: stable scatter of the kept pairs into their buckets.
  const auto slots = static_cast<std::size_t>(out.offsets[ne]);
  out.token.resize(slots);
  out.pair.resize(slots);
  std::vector<Index>& cursor = out.cursor;
  cursor.assign(out.offsets.begin(), out.offsets.end() - 1);
  for (Index p = 0; p < num_pairs; ++p) {
    if (!out.kept[static_cast<std::size_t>(p)]) continue;
    const auto s = static_cast<std::size_t>(cursor[static_cast<std::size_t>(expert[p])]++);
    out.token[s] = token[p];
    out.pair[s] = p;
  }
}

}  // namespace moekit::deep
