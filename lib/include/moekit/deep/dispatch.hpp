#pragma once
// Grouping (token, expert) pairs by expert. A stable counting sort over the pair list gives
// the permutation that the per-expert GEMMs and the weighted scatter use (and that the CUDA
// kernels reuse): bucket e holds the pairs routed to expert e, in the order of the pair
// list. Token-choice routers list pairs rank-major (every token's first choice, in token
// order, then every second choice, ...), so cutting each bucket at the expert capacity keeps
// first choices before second choices (Fedus et al. 2022, Sec. 2.1; Lepikhin et al. 2021).

#include "moekit/core/types.hpp"

#include <vector>

namespace moekit::deep {

struct Dispatch {
  Index num_experts = 0;
  std::vector<Index> offsets;  // num_experts + 1; bucket e is slots [offsets[e], offsets[e+1])
  std::vector<Index> token;    // per slot: the token it carries
  std::vector<Index> pair;     // per slot: index of the pair in the input pair list
  std::vector<char> kept;      // per pair: 1 when it fits in its expert's capacity
  std::vector<Index> counts;   // per expert: pairs routed to it before the capacity cut
  std::vector<Index> cursor;   // scratch of the scatter pass

  Index num_slots() const { return offsets.empty() ? 0 : offsets.back(); }
  Index bucket_size(Index e) const { return offsets[e + 1] - offsets[e]; }
};

// Stable counting sort of pairs p = 0..num_pairs-1 (expert[p], token[p]) by expert. At most
// `capacity` pairs per expert are kept (the first ones in pair order); capacity < 0 keeps all
// (dropless). Buffers in `out` are reused: steady state does not allocate.
void build_dispatch(const Index* expert,
                    const Index* token,
                    Index num_pairs,
                    Index num_experts,
                    Index capacity,
                    Dispatch& out);

}  // namespace moekit::deep
