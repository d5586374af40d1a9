// moekit select DATA.csv -k 1:6 [--criterion bic|icl|aic] [--bootstrap-lrt B] [fit options]:
// fits the model for each K and keeps the one with the lowest criterion (infer/selection.hpp),
// and on request tests K against K + 1 by the parametric bootstrap (infer/bootstrap_lrt.hpp).
// With --covariance all (or a comma list of structures) it fits every (K, structure) pair and
// prints the K x structure table as mclust's Mclust() does, in mclust's sign convention (for
// one response mclust's univariate table, E and V).

#include "commands.hpp"
#include "fit_args.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/infer/bootstrap_lrt.hpp"
#include "moekit/infer/selection.hpp"
#include "moekit/model/families.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <memory>
#include <vector>

namespace moekit::cli {

namespace {

struct SelectArgs : FitArgs {
  std::string components = "1:5", criterion = "bic";
  bool components_given = false;
  std::vector<std::string> trees;  // --tree 2,2 3,2 ...
  int bootstrap_lrt = 0;           // replicates of the bootstrap LRT of K against K + 1
  std::string models_dir;          // every fitted candidate's model file goes here
  int beam_width = 0;              // SelectionOptions::beam_width
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

// --covariance all | A,B,C: the structures of mclust's K x structure table; empty for one
// structure (the ordinary K table).
std::vector<CovarianceStructure> table_structures(const std::string& text) {
  if (text == "all") return mclust_structures();
  if (text.find(',') == std::string::npos) return {};
  std::vector<CovarianceStructure> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    const CovarianceStructure c = parse_covariance(text.substr(begin, comma - begin));
    if (std::find(out.begin(), out.end(), c) != out.end())
      throw InputError::option("--covariance", text,
                               fmt::format("lists {} twice (by one of its names)", mclust_name(c)));
    out.push_back(c);
    begin = comma + 1;
  }
  return out;
}

// A structure's name in the table of q responses: mclust's, or for one response its volume
// alone, "E" (equal variances) or "V" (mclust's univariate models).
std::string table_name(CovarianceStructure c, Index q) {
  const std::string name = mclust_name(c);
  return q == 1 ? name.substr(0, 1) : name;
}

// For one response the 14 structures are two models, E (those of equal volume: EII, EEI, EVI,
// EEE, EVE, EEV, EVV) and V (the others): `all` is E and V (fitted as EII and VII), and a list
// is mapped structure by structure, refused where it names one model twice.
std::vector<CovarianceStructure> univariate_structures(
    const std::vector<CovarianceStructure>& structures, const std::string& text) {
  std::vector<CovarianceStructure> out, given;
  for (CovarianceStructure c : structures) {
    const CovarianceStructure u = mclust_name(c).front() == 'E' ? CovarianceStructure::TiedSpherical
                                                                : CovarianceStructure::Spherical;
    const auto seen = std::find(out.begin(), out.end(), u);
    if (seen == out.end()) {
      out.push_back(u);
      given.push_back(c);
    } else if (text != "all") {
      throw InputError::option(
          "--covariance", text,
          fmt::format("{} and {} are one model, {}, for one response",
                      mclust_name(given[static_cast<size_t>(seen - out.begin())]), mclust_name(c),
                      table_name(u, 1)));
    }
  }
  return out;
}

// mclust's sign: larger is better (2 loglik - npar log n for BIC).
double mclust_sign(const FitResult& f, Criterion c) { return -criterion_value(f, c); }

void print_structure_table(const Selection& selection,
                           const std::vector<Index>& Ks,
                           const std::vector<CovarianceStructure>& structures,
                           Index q,
                           const std::string& criterion_name) {
  fmt::print(
      "{} in mclust's convention (2 loglik - npar log n for BIC: larger is better; moekit's "
      "--json 'bic' is minus this):\n",
      criterion_name);
  bool any_degenerate = false;
  fmt::print("{:>3}", "K");
  for (CovarianceStructure c : structures) fmt::print(" {:>10}", table_name(c, q));
  fmt::print("\n");
  for (Index K : Ks) {
    fmt::print("{:>3}", K);
    for (CovarianceStructure c : structures) {
      const SelectionCandidate* cell = nullptr;
      for (const auto& cand : selection.candidates)
        if (cand.spec.K == K && cand.spec.covariance == c) cell = &cand;
      if (cell && cell->fit) {
        const bool degenerate = !cell->fit->degenerate.empty();
        any_degenerate = any_degenerate || degenerate;
        fmt::print(" {:>10}", fmt::format("{:.3f}{}", mclust_sign(*cell->fit, selection.criterion),
                                          degenerate ? "*" : ""));
      } else {
        fmt::print(" {:>10}", "NA");
      }
    }
    fmt::print("\n");
  }
  if (any_degenerate)
    fmt::print(
        "* a degenerate component (fewer rows of responsibility than its own parameters, or a "
        "scale near zero; see the warnings): a spurious maximum, not chosen while a proper fit "
        "is there\n");
}

void run_select(const SelectArgs& a) {
  const Criterion criterion = parse_criterion(a.criterion);
  std::vector<CovarianceStructure> structures = table_structures(a.covariance);
  const bool table = !structures.empty();
  if (table && !a.trees.empty())
    throw InputError::option("--tree", a.trees.front(),
                             "cannot be combined with several covariance structures");
  if (table && a.bootstrap_lrt != 0)
    throw InputError::option("--bootstrap-lrt", std::to_string(a.bootstrap_lrt),
                             "tests K against K + 1 for one covariance structure; give one");
  if (a.beam_width < 0)
    throw InputError::option("--beam-width", std::to_string(a.beam_width), "must be >= 0");
  if (a.beam_width > 0 && !table)
    throw InputError::option("--beam-width", std::to_string(a.beam_width),
                             "searches the cells of a structure table: give --covariance all or "
                             "a list of structures");
  if (a.beam_width > 0 && a.method != "em")
    throw InputError::option("--beam-width", std::to_string(a.beam_width),
                             "climbs by EM: it cannot be combined with --method " + a.method);
  // Candidates: every K of -k (unless only --tree is given), then every tree; with several
  // structures every (K, structure) pair.
  std::vector<ModelSpec> specs;
  const std::vector<Index> Ks =
      a.trees.empty() || a.components_given ? parse_components(a.components) : std::vector<Index>{};
  auto table_specs = [&] {
    for (Index K : Ks)
      for (CovarianceStructure c : structures) {
        SelectArgs one = a;
        one.covariance = mclust_name(c);
        specs.push_back(make_spec(one, K));
      }
  };
  if (table)
    table_specs();
  else
    for (Index K : Ks) specs.push_back(make_spec(a, K));
  for (const auto& t : a.trees) {
    ModelSpec spec = make_spec(a, 1, t);
    const std::string label = candidate_label(spec);
    for (const auto& s : specs)
      if (candidate_label(s) == label)
        throw InputError::option("--tree", t, "is listed twice (or equals a K of -k)");
    specs.push_back(spec);
  }
  SelectionOptions options;
  options.criterion = criterion;
  options.fit = make_fit_options(a);
  options.beam_width = a.beam_width;
  // The LRT pairs: every K of -k whose K + 1 is listed too.
  std::vector<Index> lrt_nulls;
  LrtOptions lrt;
  if (a.bootstrap_lrt != 0 && !a.weights.empty())
    throw InputError::option("--bootstrap-lrt", std::to_string(a.bootstrap_lrt),
                             "observation weights (--weights) are not supported by the "
                             "parametric bootstrap (its simulated data sets have no weights)");
  if (a.bootstrap_lrt != 0) {
    const std::string value = std::to_string(a.bootstrap_lrt);
    lrt.replicates = a.bootstrap_lrt;
    lrt.seed = a.seed;
    lrt.threads = a.threads;
    lrt.fit = options.fit;
    lrt.validate();
    if (a.gate == "gaussian")
      throw InputError::option("--bootstrap-lrt", value,
                               "cannot simulate from a Gaussian gate's model of the gate "
                               "covariates; use --gate constant or softmax");
    for (Index K : Ks)
      if (std::find(Ks.begin(), Ks.end(), K + 1) != Ks.end()) lrt_nulls.push_back(K);
    std::sort(lrt_nulls.begin(), lrt_nulls.end());
    if (lrt_nulls.empty())
      throw InputError::option("--bootstrap-lrt", value,
                               "tests K against K + 1: give -k with two consecutive values "
                               "(e.g. -k 1:3)");
  }
  if (!a.out.empty()) refuse_overwrite(a.out, {a.data});
  if (!a.models_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(a.models_dir, ec);
    if (ec || !std::filesystem::is_directory(a.models_dir))
      throw InputError::option("--models-dir", a.models_dir,
                               ec ? "cannot be created: " + ec.message() : "is not a directory");
  }

  DataSpec data_spec = specs.front().data;
  const Dataset data = read_training_data(a, data_spec);
  const Index q = data.y.cols();
  if (table && q == 1) {
    structures = univariate_structures(structures, a.covariance);
    specs.clear();
    table_specs();
  }
  for (auto& s : specs) {
    s.data = data_spec;
    check_rows_for_experts(s, data);
  }

  options.progress = [&a, table,
                      q](const SelectionCandidate& c) -> std::function<bool(const IterationInfo&)> {
    auto progress = std::make_shared<Progress>(
        !a.quiet && isatty(STDERR_FILENO),
        table ? fmt::format("{}, K = {}: ", table_name(c.spec.covariance, q), c.label)
              : fmt::format("{} = {}: ", c.spec.tree.empty() ? "K" : "tree", c.label));
    return [progress](const IterationInfo& info) { return progress->update(info); };
  };
  const Selection selection = select_model(specs, data, options);
  const auto& candidates = selection.candidates;
  const Model& best_model = selection.best_model();
  const FitResult& best_fit = selection.best_fit();
  const bool any_tree = !a.trees.empty();

  // The flat fitted model of K experts, if any.
  auto fitted = [&](Index K) -> const SelectionCandidate* {
    for (const auto& c : candidates)
      if (c.spec.tree.empty() && c.spec.K == K && c.model) return &c;
    return nullptr;
  };
  std::vector<LrtResult> tests;
  for (Index K : lrt_nulls) {
    const SelectionCandidate *null_fit = fitted(K), *alt_fit = fitted(K + 1);
    if (!null_fit || !alt_fit) continue;  // the table shows why that K failed
    ReplicateProgress line(!a.quiet, fmt::format("bootstrap LRT K = {} vs {}", K, K + 1));
    lrt.on_replicate = [&line](int done, int total) { line.update(done, total); };
    tests.push_back(bootstrap_lrt(*null_fit->model, *alt_fit->model, data, lrt));
    line.finish(tests.back().replicates,
                tests.back().failed > 0
                    ? fmt::format(" ({} could not be fitted)", tests.back().failed)
                    : "");
  }

  if (!a.out.empty()) save_model(best_model, &best_fit, a.out);
  if (!a.models_dir.empty())
    for (const auto& c : candidates) {
      if (!c.model) continue;
      const std::string name = table ? table_name(c.spec.covariance, q) + "_" + c.label
                               : c.spec.tree.empty() ? "K" + c.label
                                                     : "tree_" + c.label;
      const std::string path = (std::filesystem::path(a.models_dir) / (name + ".json")).string();
      refuse_overwrite(path, {a.data});
      save_model(*c.model, &*c.fit, path);
    }
  if (a.json) {
    nlohmann::json fits = nlohmann::json::array();
    for (const auto& c : candidates) {
      nlohmann::json f{{"K", c.spec.K},
                       {"tree", c.spec.shape().branching()},
                       {"covariance", to_string(c.spec.covariance)},
                       {"mclust_model", table_name(c.spec.covariance, q)}};
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
        nlohmann::json degenerate = nlohmann::json::array();
        for (long k : c.fit->degenerate) degenerate.push_back(k + 1);
        f["degenerate_components"] = degenerate;
      } else {
        f["error"] = c.error;
      }
      fits.push_back(std::move(f));
    }
    nlohmann::json out{{"criterion", a.criterion},
                       {"criteria_convention", "lower is better"},
                       {"best_K", best_model.components()},
                       {"best_tree", best_model.tree().branching()},
                       {"fits", fits},
                       {"best", nlohmann::json::parse(fit_json(best_model, best_fit))}};
    if (table) {
      // mclust's table: rows K, columns structures, larger is better, null where the fit failed.
      nlohmann::json rows = nlohmann::json::array(), names = nlohmann::json::array(),
                     degenerate_rows = nlohmann::json::array();
      for (CovarianceStructure c : structures) names.push_back(table_name(c, q));
      for (Index K : Ks) {
        nlohmann::json row = nlohmann::json::array(), degenerate_row = nlohmann::json::array();
        for (CovarianceStructure c : structures) {
          nlohmann::json v = nullptr, degenerate = nullptr;
          for (const auto& cand : candidates)
            if (cand.spec.K == K && cand.spec.covariance == c && cand.fit) {
              v = mclust_sign(*cand.fit, criterion);
              degenerate = !cand.fit->degenerate.empty();
            }
          row.push_back(v);
          degenerate_row.push_back(degenerate);
        }
        rows.push_back(row);
        degenerate_rows.push_back(degenerate_row);
      }
      out["mclust_table"] = {
          {"criterion", a.criterion},
          {"convention", "mclust: 2 loglik - npar log n for bic (larger is better) = -bic"},
          {"models", names},
          {"K", Ks},
          {"values", rows},
          {"degenerate", degenerate_rows}};
      out["best_model"] = table_name(selection.best_candidate().spec.covariance, q);
    }
    if (a.bootstrap_lrt != 0) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& t : tests)
        rows.push_back({{"K", t.K},
                        {"K_alternative", t.K + 1},
                        {"statistic", t.statistic},
                        {"p_value", t.p_value},
                        {"replicates", t.replicates},
                        {"failed", t.failed},
                        {"warnings", t.warnings}});
      out["bootstrap_lrt"] = rows;
    }
    fmt::print("{}\n", out.dump());
  } else if (table) {
    const std::string name = a.criterion == "aic" ? "AIC" : a.criterion == "icl" ? "ICL" : "BIC";
    fmt::print("model selection by {} over {} covariance structures: {} experts, {} gate\n", name,
               structures.size(), a.experts, a.gate);
    print_structure_table(selection, Ks, structures, q, name);
    for (const auto& c : candidates)
      if (!c.fit)
        fmt::print("{}, K = {}: failed: {}\n", table_name(c.spec.covariance, q), c.label, c.error);
    fmt::print("\nbest: {}, K = {} ({} {:.3f} in mclust's sign, {:.6f} in moekit's)\n",
               table_name(selection.best_candidate().spec.covariance, q), best_model.components(),
               name, mclust_sign(best_fit, criterion), criterion_value(best_fit, criterion));
    fmt::print("\n{}", fit_text(best_model, best_fit));
    if (!a.out.empty()) fmt::print("model written to {}\n", a.out);
  } else {
    fmt::print("model selection by {} (lower is better): {} experts, {} gate\n",
               a.criterion == "aic"   ? "AIC"
               : a.criterion == "icl" ? "ICL"
                                      : "BIC",
               a.experts, a.gate);
    if (best_fit.joint)
      fmt::print("criteria on the joint log-likelihood log p(z, y) that EM maximised\n");
    const char* head = any_tree ? "tree" : "K";
    fmt::print("{:>8} {:>16} {:>7} {:>14} {:>14} {:>14}  {}\n", head,
               best_fit.joint ? "joint loglik" : "loglik", "params", "AIC", "BIC", "ICL", "status");
    for (size_t i = 0; i < candidates.size(); ++i) {
      const SelectionCandidate& c = candidates[i];
      if (!c.fit) {
        fmt::print("{:>8}  failed: {}\n", c.label, c.error);
        continue;
      }
      const FitResult& f = *c.fit;
      const bool best = i == selection.best;
      fmt::print("{:>8} {:>16.10g} {:>7} {:>14.6f} {:>14.6f} {:>14.6f}  {}{}{}{}\n", c.label,
                 f.objective(), f.n_params, f.aic, f.bic, f.icl, to_string(f.status),
                 f.degenerate.empty() ? "" : ", degenerate (not chosen while a proper fit is)",
                 f.warnings.empty() ? "" : fmt::format(", {} warning(s)", f.warnings.size()),
                 best ? "  <- best" : "");
    }
    if (!tests.empty()) {
      fmt::print(
          "\nbootstrap likelihood-ratio tests of K against K + 1 (McLachlan 1987), {} data sets "
          "simulated from each fitted K model:\n",
          a.bootstrap_lrt);
      fmt::print("{:>10} {:>16} {:>10}\n", "K vs K+1", "LRT", "p-value");
      for (const auto& t : tests)
        fmt::print("{:>10} {:>16.6f} {:>10.4g}{}\n", fmt::format("{} vs {}", t.K, t.K + 1),
                   t.statistic, t.p_value,
                   t.failed > 0 ? fmt::format("  ({} replicates failed)", t.failed) : "");
    }
    fmt::print("\n{}", fit_text(best_model, best_fit));
    if (!a.out.empty()) fmt::print("model written to {}\n", a.out);
  }
  if (!a.quiet)
    for (const auto& t : tests)
      for (const auto& w : t.warnings) fmt::print(stderr, "warning: {}\n", w);
  // The text report ends with the chosen fit's warnings: stderr repeats them unless it is
  // the same place.
  const bool best_in_report = !a.json && stdout_is_stderr();
  if (!a.quiet)
    for (size_t i = 0; i < candidates.size(); ++i)
      if (const SelectionCandidate& c = candidates[i];
          c.fit && !(best_in_report && i == selection.best))
        for (const auto& w : c.fit->warnings)
          fmt::print(stderr, "warning: {}{} = {}: {}\n",
                     table ? table_name(c.spec.covariance, q) + ", " : std::string(),
                     c.spec.tree.empty() ? "K" : "tree", c.label, w);
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
  cmd->add_option("--bootstrap-lrt", a->bootstrap_lrt,
                  "Parametric bootstrap likelihood-ratio test of K against K + 1 for every "
                  "consecutive pair in -k, with this many simulated data sets (e.g. 99); seeded "
                  "by --seed, on --threads threads")
      ->capture_default_str();
  cmd->add_option("--beam-width", a->beam_width,
                  "After a structure table's search, a beam search over each cell's maxima "
                  "keeping this many (e.g. 20; 0: none). It reaches maxima the default search "
                  "misses, at many times its cost")
      ->capture_default_str();
  cmd->add_option("-o,--out", a->out, "Write the selected model (JSON) to this file, atomically");
  cmd->add_option("--models-dir", a->models_dir,
                  "Also write every fitted candidate's model file to this directory (created "
                  "if missing): K3.json, tree_2,2.json, or VVE_3.json for a structure table");
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
