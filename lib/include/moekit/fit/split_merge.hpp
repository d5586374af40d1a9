#pragma once
// Split-and-merge moves for EM (Ueda, Nakano, Ghahramani & Hinton 2000, "SMEM algorithm for
// mixture models", Neural Computation 12): at a converged maximum, two experts that share
// their rows are merged and a third that explains its rows poorly is split in two, and EM
// runs again from there. A move is kept only when it reaches a higher maximum, so the fit
// escapes the local maxima that every start of a multimodal problem drains into (mcycle's
// four lines: docs/starts.md) while K stays the same.

#include "moekit/core/types.hpp"

#include <vector>

namespace moekit {

struct SplitMergeMove {
  Index merge_into = 0, merge_from = 0;  // experts merged (merge_from's slot is reused)
  Index split = 0;                       // the expert split between its slot and merge_from's
  int axis = 0;                          // principal axis (0: first) of the split's rows
};

// Candidate moves, best first: pairs of experts by the cosine of their posterior columns
// (Ueda et al. 2000, eq. 4.1), and for each pair the other experts by how badly the model
// explains their rows (the mean of log p(y_i | x_i) over the expert's posterior mass, a
// proxy of the local Kullback-Leibler divergence of eq. 4.3 that needs no density per
// expert), each split along the first and then the second principal axis of its rows.
// `leaves` is n x K (K >= 3), `row_loglik` n; at most `limit` moves.
std::vector<SplitMergeMove> split_merge_moves(const ConstMatrixRef& leaves,
                                              const ConstVectorRef& row_loglik,
                                              Index axes,
                                              int limit);

// Starting responsibilities for a move: merge_into takes both merged columns; the split
// expert's column is cut between its slot and merge_from's by the side of the hyperplane
// through its posterior-weighted mean, normal to the principal axis `axis` of its rows'
// `features` (rows x d, standardised by the caller: standardised_columns in fit/init.hpp),
// with a soft 0.9/0.1 share so that neither half starts empty or separable.
Matrix split_merge_start(const ConstMatrixRef& leaves,
                         const ConstMatrixRef& features,
                         const SplitMergeMove& move);

}  // namespace moekit
