#pragma once
// Starting responsibilities for EM: hard k-means++ clusters (Arthur & Vassilvitskii 2007)
// refined by Lloyd iterations on standardised features, or random soft responsibilities.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"
#include "moekit/fit/options.hpp"

#include <string>
#include <vector>

namespace moekit {

// Labels 0..K-1 from k-means++ seeding and up to `iterations` Lloyd steps on the columns of
// `features` standardised to unit variance.
std::vector<Index> kmeans_plus_plus(const ConstMatrixRef& features,
                                    Index K,
                                    int iterations,
                                    Rng& rng);

// The method that start `restart` (0-based) uses for experts of `family`; resolves Auto.
InitMethod start_method(InitMethod requested, const std::string& family, int restart);

// n x K starting responsibilities for `method` (KMeansPlusPlus or Random).
Matrix initial_responsibilities(
    const ConstMatrixRef& features, Index K, InitMethod method, int kmeans_iter, Rng& rng);

}  // namespace moekit
