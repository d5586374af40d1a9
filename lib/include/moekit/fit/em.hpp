#pragma once
// Expectation-maximisation for a mixture of experts (Dempster, Laird & Rubin 1977; Jordan
// & Jacobs 1994): E-step posterior responsibilities, M-step weighted fits of the experts and
// the gate. Each start that converges tries split-and-merge moves (fit/split_merge.hpp);
// restarts keep the best log-likelihood; collapsed components are re-seeded with a warning.

#include "moekit/backend/estep_backend.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/fit/result.hpp"
#include "moekit/model/model.hpp"

namespace moekit {

class EmFitter {
 public:
  explicit EmFitter(FitOptions options = {});
  const FitOptions& options() const { return options_; }

  // Fits `model` (its spec fixes families and K) to `data`; the fitted parameters replace
  // the model's. Throws NumericalError when no start could be fitted.
  FitResult fit(Model& model, const Dataset& data) const;
  // The same with a caller's E-step backend in place of options().device.
  FitResult fit(Model& model, const Dataset& data, const EStepBackend& backend) const;

  // EM from the model's current parameters (no initialisation), one start.
  FitResult refine(Model& model, const Dataset& data) const;

  // Start number `restart` (0-based) of fit() alone: its initialisation and EM iterations up
  // to options().max_iter. The gradient fitter begins from these starts.
  FitResult start(Model& model, const Dataset& data, int restart) const;

 private:
  FitResult fit_with(Model& model,
                     const Dataset& data,
                     const EStepBackend& backend,
                     const std::vector<std::string>& notes) const;
  FitResult run(Model& model,
                const Dataset& data,
                const EStepBackend& backend,
                int restart,
                std::uint64_t seed,
                bool initialise,
                const Matrix* start_leaves = nullptr) const;
  // Split-and-merge moves (fit/split_merge.hpp) from the best start's maximum: replaces the
  // model and `best` by a higher proper maximum when a move reaches one.
  void split_merge(Model& model,
                   const Dataset& data,
                   const EStepBackend& backend,
                   FitResult& best) const;
  // Short-EM (InitMethod::ShortEm): replaces the model's parameters by those of the best of
  // options().short_starts candidates after options().short_iter EM iterations each.
  void short_em_start(Model& model,
                      const Dataset& data,
                      const EStepBackend& backend,
                      int restart,
                      std::uint64_t seed,
                      FitResult& result) const;
  FitOptions options_;
};

// Features that the initialiser clusters: y for gaussian experts, [x without intercept, y]
// for regression experts, and the gate covariates too when a gate models them.
Matrix init_features(const Model& model, const Dataset& data);

}  // namespace moekit
