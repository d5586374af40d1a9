#pragma once
// Warm starts: EM from a saved model (flexmix's refit from a previous fit, mclust's
// initialization from a classification), either with the same K or with one component more
// for a K + 1 search, by splitting the heaviest component.

#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"

namespace moekit {

// The model with its heaviest component (largest posterior mass on `data`) split in two: the
// component's rows whose responses lie above its mean (summed over the responses) go to the
// new component K + 1, the others stay, and one M-step on those responsibilities gives the
// K + 1 model to start EM from. Flat models only (InputError naming --init-model otherwise).
Model split_heaviest_component(const Model& model, const Dataset& data);

}  // namespace moekit
