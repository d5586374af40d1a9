#pragma once
// Draws from a fitted model: for each row, a component from the gate g(z_i) and a response
// from that expert given x_i (the model's generative story, as flexmix's rflexmix and
// mclust's sim).

#include "moekit/core/rng.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"

#include <vector>

namespace moekit {

struct Simulation {
  Matrix y;                      // n x q responses (class codes 0..L-1 for logistic experts)
  std::vector<Index> component;  // 0-based component of each row
};

// One draw per row of `data`; only its x, z and groups are read (the rows of a group share
// one component draw). Reproducible for a given rng state, whatever the thread count.
Simulation simulate(const Model& model, const Dataset& data, Rng& rng);

// n rows of a model whose experts and gate have no covariates besides an intercept (a
// Gaussian mixture, or intercept-only experts under a constant gate); InputError naming
// --n when the model needs covariates.
Dataset intercept_only_dataset(const Model& model, Index n);

}  // namespace moekit
