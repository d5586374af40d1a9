#pragma once
// The model file: JSON with "format": "moekit-model", "version", the spec, the parameters
// and the fit record. Files are written atomically (temporary file, then rename).

#include "moekit/fit/result.hpp"
#include "moekit/model/model.hpp"

#include <string>

namespace moekit {

// 2: the gating tree ("tree", "gate_covariance", "parameters.gates"); 1 (a single gate,
// "parameters.gate") still loads.
inline constexpr int kModelFormatVersion = 2;

// The largest magnitude of a parameter in a model file that loads: its square (a variance, a
// product with a covariate of its own scale) stays finite, so that predictions on ordinary
// data do not overflow to inf or NaN.
inline constexpr double kMaxParameterMagnitude = 1e150;

std::string model_to_json(const Model& model, const FitResult* fit, int indent = 2);
// Throws ModelFormatError (an InputError) naming what is wrong.
Model model_from_json(const std::string& text, const std::string& source);

void save_model(const Model& model, const FitResult* fit, const std::string& path);
// Reads `path` ("-": standard input) and loads it; InputError naming the path.
Model load_model(const std::string& path);

// The fit record stored beside a model (empty result when absent); ModelFormatError naming
// `source` when it is malformed.
FitResult fit_record_from_json(const std::string& text, const std::string& source);

}  // namespace moekit
