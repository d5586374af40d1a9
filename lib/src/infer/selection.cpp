#include "moekit/infer/selection.hpp"

#include "moekit/core/error.hpp"
#include "moekit/fit/fit_model.hpp"

#include <fmt/format.h>

#include <utility>

namespace moekit {

std::string to_string(Criterion c) {
  switch (c) {
    case Criterion::Bic:
      return "bic";
    case Criterion::Icl:
      return "icl";
    case Criterion::Aic:
      return "aic";
  }
  return "bic";
}

Criterion parse_criterion(const std::string& name) {
  if (name == "bic") return Criterion::Bic;
  if (name == "icl") return Criterion::Icl;
  if (name == "aic") return Criterion::Aic;
  throw InputError::option("--criterion", name, "must be bic, icl or aic");
}

double criterion_value(const FitResult& fit, Criterion c) {
  return c == Criterion::Aic ? fit.aic : c == Criterion::Icl ? fit.icl : fit.bic;
}

std::string candidate_label(const ModelSpec& spec) {
  return spec.tree.empty() ? std::to_string(spec.K) : spec.shape().to_string();
}

std::vector<ModelSpec> specs_for_components(const ModelSpec& base, const std::vector<Index>& Ks) {
  std::vector<ModelSpec> out;
  for (Index K : Ks) {
    ModelSpec s = base;
    s.tree.clear();
    s.K = K;
    out.push_back(std::move(s));
  }
  return out;
}

Selection select_model(const std::vector<ModelSpec>& specs,
                       const Dataset& data,
                       const SelectionOptions& options) {
  if (specs.empty()) throw InputError("select_model: no candidate models");
  Selection out;
  out.criterion = options.criterion;
  for (const ModelSpec& spec : specs) {
    SelectionCandidate c;
    c.spec = spec;
    c.label = candidate_label(spec);
    for (const auto& other : out.candidates)
      if (other.label == c.label && other.spec.covariance == c.spec.covariance)
        throw InputError(fmt::format("select_model: the candidate {} is listed twice", c.label));
    out.candidates.push_back(std::move(c));
  }
  bool have = false;
  for (size_t i = 0; i < out.candidates.size(); ++i) {
    SelectionCandidate& c = out.candidates[i];
    const Index K = c.spec.K;
    Model model(c.spec, data.y.cols(), data.x.cols(), data.z.cols());
    FitOptions fit_options = options.fit;
    try {
      if (data.rows() < K)
        throw NumericalError(
            fmt::format("{} rows cannot be split into {} components", data.rows(), K));
      if (options.progress) fit_options.on_iteration = options.progress(c);
      c.fit = fit_model(model, data, fit_options);
      c.model = std::move(model);
    } catch (const NumericalError& e) {
      c.error = e.what();
    } catch (const InputError& e) {
      if (i == 0) throw;  // the data or the options are wrong, not this K
      c.error = e.what();
    }
    // Ends this candidate's progress line before the next one starts.
    fit_options.on_iteration = nullptr;
    if (c.fit && (!have || criterion_value(*c.fit, options.criterion) <
                               criterion_value(out.best_fit(), options.criterion))) {
      out.best = i;
      have = true;
    }
  }
  if (!have)
    throw NumericalError(fmt::format("no model could be fitted; {}: {}",
                                     out.candidates.front().label, out.candidates.front().error));
  return out;
}

}  // namespace moekit
