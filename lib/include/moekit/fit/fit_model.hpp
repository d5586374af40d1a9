#pragma once
// The one entry point for fitting: EM or gradient ascent as options.method says. Both end
// with the score norm at the returned parameters in FitResult::gradient_norm.

#include "moekit/data/dataset.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/fit/result.hpp"
#include "moekit/model/model.hpp"

namespace moekit {

FitResult fit_model(Model& model, const Dataset& data, const FitOptions& options);

}  // namespace moekit
