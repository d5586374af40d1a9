#pragma once
// Text and JSON renderings of a fitted model shared by `fit` and `summary`.

#include "moekit/fit/result.hpp"
#include "moekit/model/model.hpp"

#include <string>

namespace moekit::cli {

// The `--json` object: fit record keys at the top level (loglik, n_obs, n_params, aic, bic,
// icl, iterations, converged, seconds, ...), then spec and parameters.
std::string fit_json(const Model& model, const FitResult& fit);
// Human-readable summary with the criteria conventions spelled out.
std::string fit_text(const Model& model, const FitResult& fit);

// Whether stdout and stderr are the same file or terminal (a shell's terminal, `> out 2>&1`):
// warnings that the text report on stdout already holds are then not printed again on stderr.
bool stdout_is_stderr();

// Throws InputError when an output path would overwrite one of the inputs.
void refuse_overwrite(const std::string& out, const std::vector<std::string>& inputs);

}  // namespace moekit::cli
