#pragma once
// Starting responsibilities for EM: hard k-means++ clusters (Arthur & Vassilvitskii 2007)
// refined by Lloyd iterations on standardised features, or random soft responsibilities.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/model/model.hpp"

#include <string>
#include <vector>

namespace moekit {

// Labels 0..K-1 from k-means++ seeding and up to `iterations` Lloyd steps on the columns of
// `features` standardised to unit variance.
std::vector<Index> kmeans_plus_plus(const ConstMatrixRef& features,
                                    Index K,
                                    int iterations,
                                    Rng& rng);

// The method that start `restart` (0-based) uses for this model; resolves Auto: k-means++
// for experts that ignore x (Gaussian mixtures) and for models of the joint (z, y)
// (Gaussian gates), random and k-means++ alternating otherwise.
InitMethod start_method(InitMethod requested, const Model& model, int restart);

// n x K hard starting responsibilities from random lines: component k is the least-squares
// fit of y on x through p = x.cols() rows drawn at random, and each row joins the component
// with the smallest squared residual (InitMethod::RandomLines).
Matrix random_lines(const ConstMatrixRef& x, const ConstMatrixRef& y, Index K, Rng& rng);

// n x K starting responsibilities for `method` (KMeansPlusPlus or Random).
Matrix initial_responsibilities(
    const ConstMatrixRef& features, Index K, InitMethod method, int kmeans_iter, Rng& rng);

}  // namespace moekit
