#pragma once
// Top-k selection used by every routing kind. Ties go to the lower index so that the
// selection (and the dispatch permutation built from it) is deterministic.

#include "moekit/core/types.hpp"

#include <vector>

namespace moekit::deep {

// Writes into out[0..k) the indices of the k largest of the n values values[i * stride], in
// descending order of value; equal values are ordered by ascending index. Requires k <= n.
// O(k n): meant for rows of E router scores (stride T in a column-major T x E matrix).
// S is float or double.
template <typename S>
void top_k_small(const S* values, Index n, Index stride, Index k, Index* out);

// Same contract for long vectors (expert choice picks c of T tokens): partial sort of the
// index buffer `scratch` (resized to n, reused across calls so that steady state does not
// allocate). `stride` is the distance between consecutive values (column-major access).
template <typename S>
void top_k_large(
    const S* values, Index n, Index stride, Index k, std::vector<Index>& scratch, Index* out);

}  // namespace moekit::deep
