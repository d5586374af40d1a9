#pragma once
// Model selection by an information criterion: fit each candidate (a number of experts K or
// a gating tree) to the same data and keep the one with the lowest BIC, ICL or AIC (mclust's
// Mclust(G = 1:6) and flexmix's stepFlexmix + getModel, with moekit's lower-is-better
// criteria). A candidate that cannot be fitted is recorded with its error and skipped.

#include "moekit/data/dataset.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/fit/result.hpp"
#include "moekit/model/model.hpp"
#include "moekit/model/model_spec.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace moekit {

enum class Criterion { Bic, Icl, Aic };
std::string to_string(Criterion c);  // "bic" | "icl" | "aic"
// "bic" | "icl" | "aic"; InputError naming --criterion otherwise.
Criterion parse_criterion(const std::string& name);
// The criterion's value in a fit record (lower is better).
double criterion_value(const FitResult& fit, Criterion c);

struct SelectionCandidate {
  ModelSpec spec;
  std::string label;  // "4" for K = 4, "2,2" for a tree
  std::optional<FitResult> fit;
  std::optional<Model> model;  // the fitted model, with `fit`
  std::string error;           // why it could not be fitted, without `fit`
};

struct SelectionOptions {
  Criterion criterion = Criterion::Bic;
  FitOptions fit;  // every candidate's fit (fit_model: EM or gradient ascent)
  // Width of the beam search over maxima run for every cell of a structure table after the
  // table's search, before the polish; 0 (the default) runs none. Slow: a few seconds per
  // cell of faithful's K = 9 row (docs/math/covariance_structures.md, "The beam search").
  int beam_width = 0;
  // Called before each candidate's fit; the callback it returns (may be empty) replaces
  // fit.on_iteration for that fit and is destroyed when the fit ends (so a progress line it
  // owns can be erased then).
  std::function<std::function<bool(const IterationInfo&)>(const SelectionCandidate&)> progress;
};

struct Selection {
  Criterion criterion = Criterion::Bic;
  std::vector<SelectionCandidate> candidates;  // in the order given
  size_t best = 0;                             // index of the selected candidate
  const SelectionCandidate& best_candidate() const { return candidates[best]; }
  const Model& best_model() const { return *candidates[best].model; }
  const FitResult& best_fit() const { return *candidates[best].fit; }
};

// "4" for a flat model of 4 experts, the tree ("2,3") otherwise.
std::string candidate_label(const ModelSpec& spec);

// Candidates for K = each of `Ks` with everything else as in `base` (its tree is dropped).
std::vector<ModelSpec> specs_for_components(const ModelSpec& base, const std::vector<Index>& Ks);

// Fits every spec to `data` (their data descriptions must be those `data` was built with)
// and selects by options.criterion among the fits without a degenerate component (among all
// fits when none is proper). The first candidate's InputError is rethrown (the data
// or the options are wrong, not that K); a later one's, and any NumericalError, is recorded
// in the candidate. Throws NumericalError when no candidate could be fitted, InputError when
// `specs` is empty or lists a label twice with the same covariance structure (candidates of
// several structures make mclust's K x structure table). With EM, candidates of one K that
// differ only in their covariance structure then start again from each other's fits, from
// their structure's K - 1 fit with a component split and from its K + 1 fit with two
// components merged, keeping the better maximum, until none
// improves (docs/math/covariance_structures.md, "The search"), then, with
// options.beam_width > 0, a beam search over each cell's maxima.
Selection select_model(const std::vector<ModelSpec>& specs,
                       const Dataset& data,
                       const SelectionOptions& options);

}  // namespace moekit
