#pragma once
// Starting responsibilities for EM: hard k-means++ clusters (Arthur & Vassilvitskii 2007)
// refined by Lloyd iterations on standardised features, or random soft responsibilities.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"
#include "moekit/fit/options.hpp"

namespace moekit {

// Labels 0..K-1 from k-means++ seeding and up to `iterations` Lloyd steps on the columns of
// `features` standardised to unit variance.
std::vector<Index> kmeans_plus_plus(const ConstMatrixRef& features,
                                    Index K,
                                    int iterations,
                                    Rng& rng);

// n x K starting responsibilities for the chosen method.
Matrix initial_responsibilities(const ConstMatrixRef& features,
                                Index K,
                                const FitOptions& options,
                                Rng& rng);

}  // namespace moekit
