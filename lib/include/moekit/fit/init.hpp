#pragma once
// Starting responsibilities for EM: hard k-means++ clusters (Arthur & Vassilvitskii 2007)
// refined by Lloyd iterations on standardised features, random partitions or soft
// responsibilities, random lines, model-based hierarchical agglomeration.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/model/model.hpp"

#include <string>
#include <vector>

namespace moekit {

// Each column centred and scaled to unit (population) variance; a constant column is only
// centred. The clustering starts work on these, so they do not depend on the units.
Matrix standardised_columns(const ConstMatrixRef& features);

// Labels 0..K-1 from k-means++ seeding and up to `iterations` Lloyd steps on the columns of
// `features` standardised to unit variance.
std::vector<Index> kmeans_plus_plus(const ConstMatrixRef& features,
                                    Index K,
                                    int iterations,
                                    Rng& rng);

// The method that start `restart` (0-based) uses for this model; resolves Auto: the
// hierarchical start first for experts that ignore x (Gaussian mixtures) and for models of
// the joint (z, y) (Gaussian gates), then short-EM; under a softmax gate on covariates random
// segments (starts 1, 3, ...) and short-EM (2, 4, ...) take turns; short-EM otherwise.
InitMethod start_method(InitMethod requested, const Model& model, int restart);

// The kind of the short-EM candidate number `candidate` (0-based): for regression experts
// random lines, random partitions, random responsibilities and k-means++ take turns (each
// reaches basins the others rarely do: docs/starts.md); logistic and other categorical
// experts have no lines to draw; a softmax gate on covariates adds random segments; Gaussian
// experts alternate k-means++ and random partitions.
InitMethod candidate_method(const Model& model, int candidate);

// n x K starting responsibilities from random lines (InitMethod::RandomLines): component k
// is the least-squares fit of y on x through p = x.cols() rows drawn at random, with a noise
// scale from the rows it fits best, and each row's responsibilities are the Gaussian
// densities of its residuals under equal weights.
Matrix random_lines(const ConstMatrixRef& x, const ConstMatrixRef& y, Index K, Rng& rng);

// n x K hard starting responsibilities from random segments (InitMethod::RandomSegments):
// the rows sorted along a random direction of the standardised gate covariates `z` and cut
// into K contiguous blocks (softmax gates split the covariate space so), the cuts drawn from
// the posterior of a piecewise regression of y on x with one block per expert (uniform cuts
// above 1500 rows).
Matrix random_segments(
    const ConstMatrixRef& x, const ConstMatrixRef& y, const ConstMatrixRef& z, Index K, Rng& rng);

// n x K starting responsibilities for `method` (KMeansPlusPlus, Random, RandomPartition or
// Hierarchical) from the rows of `features`.
Matrix initial_responsibilities(
    const ConstMatrixRef& features, Index K, InitMethod method, int kmeans_iter, Rng& rng);

}  // namespace moekit
