// moekit select DATA.csv -k 1:6 [--criterion bic|icl|aic] [fit options]: fits the model for
// each K and keeps the one with the lowest criterion (mclust's Mclust(G = 1:6) and flexmix's
// stepFlexmix + getModel, with moekit's lower-is-better criteria).

#include "commands.hpp"
#include "fit_args.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/model/families.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <vector>

namespace moekit::cli {

namespace {

struct SelectArgs : FitArgs {
  std::string components = "1:5", criterion = "bic";
  bool components_given = false;
  std::vector<std::string> trees;  // --tree 2,2 3,2 ...
};

long parse_count(std::string_view text, const std::string& flag_value) {
  long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1)
    throw InputError::option("-k", flag_value,
                             "must be K values >= 1 as a range 'a:b', a list 'a,b,c' or one K");
  return v;
}

// "1:6", "2,3,5" or "4".
std::vector<Index> parse_components(const std::string& text) {
  std::vector<Index> out;
  const auto colon = text.find(':');
  if (colon != std::string::npos) {
    const long a = parse_count(std::string_view(text).substr(0, colon), text);
    const long b = parse_count(std::string_view(text).substr(colon + 1), text);
    if (b < a) throw InputError::option("-k", text, "the range a:b needs a <= b");
    if (b - a > 100) throw InputError::option("-k", text, "at most 101 values of K");
    for (long k = a; k <= b; ++k) out.push_back(static_cast<Index>(k));
    return out;
  }
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    const Index k =
        static_cast<Index>(parse_count(std::string_view(text).substr(begin, comma - begin), text));
    if (std::find(out.begin(), out.end(), k) != out.end())
      throw InputError::option("-k", text, fmt::format("K = {} is listed twice", k));
    out.push_back(k);
    begin = comma + 1;
  }
  return out;
}

double criterion_of(const FitResult& r, const std::string& c) {
  return c == "aic" ? r.aic : c == "icl" ? r.icl : r.bic;
}

struct Candidate {
  ModelSpec spec;
  std::string label;  // "4" for K = 4, "2,2" for a tree
  std::optional<FitResult> fit;
  std::string error;
};

void run_select(const SelectArgs& a) {
  if (a.criterion != "bic" && a.criterion != "icl" && a.criterion != "aic")
    throw InputError::option("--criterion", a.criterion, "must be bic, icl or aic");
  // Candidates: every K of -k (unless only --tree is given), then every tree.
  std::vector<Candidate> candidates;
  const std::vector<Index> Ks =
      a.trees.empty() || a.components_given ? parse_components(a.components) : std::vector<Index>{};
  for (Index K : Ks) candidates.push_back({make_spec(a, K), std::to_string(K), {}, ""});
  for (const auto& t : a.trees) {
    ModelSpec spec = make_spec(a, 1, t);
    const std::string label = spec.shape().to_string();
    for (const auto& c : candidates)
      if (c.label == label)
        throw InputError::option("--tree", t, "is listed twice (or equals a K of -k)");
    candidates.push_back({spec, label, {}, ""});
  }
  FitOptions options = make_fit_options(a);
  if (!a.out.empty()) refuse_overwrite(a.out, {a.data});

  DataSpec data_spec = candidates.front().spec.data;
  const Dataset data = read_training_data(a, data_spec);
  for (Candidate& c : candidates) {
    c.spec.data = data_spec;
    check_rows_for_experts(c.spec, data);
  }

  std::optional<Model> best_model;
  std::optional<FitResult> best_fit;
  std::string best_label;
  for (size_t i = 0; i < candidates.size(); ++i) {
    Candidate& c = candidates[i];
    c.spec.data = data_spec;
    const Index K = c.spec.K;
    Model model(c.spec, data.y.cols(), data.x.cols(), data.z.cols());
    try {
      if (data.rows() < K)
        throw NumericalError(
            fmt::format("{} rows cannot be split into {} components", data.rows(), K));
      auto progress = std::make_shared<Progress>(
          !a.quiet && isatty(STDERR_FILENO),
          fmt::format("{} = {}: ", c.spec.tree.empty() ? "K" : "tree", c.label));
      options.on_iteration = [progress](const IterationInfo& info) {
        return progress->update(info);
      };
      c.fit = EmFitter(options).fit(model, data);
      options.on_iteration = nullptr;  // erases this candidate's progress line
    } catch (const NumericalError& e) {
      c.error = e.what();
    } catch (const InputError& e) {
      if (i == 0) throw;  // the data or the options are wrong, not this K
      c.error = e.what();
    }
    if (c.fit &&
        (!best_fit || criterion_of(*c.fit, a.criterion) < criterion_of(*best_fit, a.criterion))) {
      best_fit = c.fit;
      best_model = std::move(model);
      best_label = c.label;
    }
  }
  if (!best_fit)
    throw NumericalError(fmt::format("no model could be fitted; {}: {}", candidates.front().label,
                                     candidates.front().error));
  const bool any_tree = !a.trees.empty();

  if (!a.out.empty()) save_model(*best_model, &*best_fit, a.out);
  if (a.json) {
    nlohmann::json fits = nlohmann::json::array();
    for (const auto& c : candidates) {
      nlohmann::json f{{"K", c.spec.K}, {"tree", c.spec.shape().branching()}};
      if (c.fit) {
        f["loglik"] = c.fit->loglik;
        if (c.fit->joint) f["joint_loglik"] = c.fit->joint_loglik;
        f["n_params"] = c.fit->n_params;
        f["aic"] = c.fit->aic;
        f["bic"] = c.fit->bic;
        f["icl"] = c.fit->icl;
        f["iterations"] = c.fit->iterations;
        f["converged"] = c.fit->converged();
        f["warnings"] = c.fit->warnings;
      } else {
        f["error"] = c.error;
      }
      fits.push_back(std::move(f));
    }
    nlohmann::json out{{"criterion", a.criterion},
                       {"criteria_convention", "lower is better"},
                       {"best_K", best_model->components()},
                       {"best_tree", best_model->tree().branching()},
                       {"fits", fits},
                       {"best", nlohmann::json::parse(fit_json(*best_model, *best_fit))}};
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("model selection by {} (lower is better): {} experts, {} gate\n",
               a.criterion == "aic"   ? "AIC"
               : a.criterion == "icl" ? "ICL"
                                      : "BIC",
               a.experts, a.gate);
    if (best_fit->joint)
      fmt::print("criteria on the joint log-likelihood log p(z, y) that EM maximised\n");
    const char* head = any_tree ? "tree" : "K";
    fmt::print("{:>8} {:>16} {:>7} {:>14} {:>14} {:>14}  {}\n", head,
               best_fit->joint ? "joint loglik" : "loglik", "params", "AIC", "BIC", "ICL",
               "status");
    for (const auto& c : candidates) {
      if (!c.fit) {
        fmt::print("{:>8}  failed: {}\n", c.label, c.error);
        continue;
      }
      const FitResult& f = *c.fit;
      const bool best = c.label == best_label;
      fmt::print("{:>8} {:>16.10g} {:>7} {:>14.6f} {:>14.6f} {:>14.6f}  {}{}{}\n", c.label,
                 f.objective(), f.n_params, f.aic, f.bic, f.icl, to_string(f.status),
                 f.warnings.empty() ? "" : fmt::format(", {} warning(s)", f.warnings.size()),
                 best ? "  <- best" : "");
    }
    fmt::print("\n{}", fit_text(*best_model, *best_fit));
    if (!a.out.empty()) fmt::print("model written to {}\n", a.out);
  }
  if (!a.quiet)
    for (const auto& c : candidates)
      if (c.fit)
        for (const auto& w : c.fit->warnings)
          fmt::print(stderr, "warning: {} = {}: {}\n", c.spec.tree.empty() ? "K" : "tree", c.label,
                     w);
}

}  // namespace

void add_select_command(CLI::App& app) {
  auto a = std::make_shared<SelectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "select", "Fit the model for several K and keep the best by BIC, ICL or AIC");
  add_model_options(cmd, *a);
  auto* k = cmd->add_option("-k,--components", a->components,
                            "Values of K: a range 'a:b', a list 'a,b,c' or one value")
                ->capture_default_str();
  cmd->add_option("--tree", a->trees,
                  "Gating trees to compare as well (e.g. --tree 2,2 2,3); with --tree alone, "
                  "only the trees");
  cmd->add_option("--criterion", a->criterion, "bic | icl | aic (lower is better)")
      ->capture_default_str();
  cmd->add_option("-o,--out", a->out, "Write the selected model (JSON) to this file, atomically");
  cmd->add_flag(
      "--json", a->json,
      "Print one JSON object: every K's criteria and the selected fit with its parameters");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress line and no warnings on stderr");
  cmd->callback([a, k] {
    a->components_given = k->count() > 0;
    run_select(*a);
  });
}

}  // namespace moekit::cli
