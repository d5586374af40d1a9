// moekit predict MODEL.json DATA.csv --what ...: predictions as CSV.

#include "commands.hpp"
#include "fit_args.hpp"
#include "model_data.hpp"
#include "report.hpp"

#include "moekit/backend/mpi_backend.hpp"
#include "moekit/backend/mpi_session.hpp"
#include "moekit/config.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/input_file.hpp"
#include "moekit/core/output_file.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>

namespace moekit::cli {

namespace {

struct PredictArgs {
  std::string model, data, what = "posterior", out, delimiter = ",";
  double level = 0.9;  // --what quantile
};

// Column names of mean-type predictions: the responses, or p_<level> per class for
// logistic experts.
std::vector<std::string> prediction_names(const Model& model) {
  if (!model.experts().categorical()) return model.spec().data.response_names;
  std::vector<std::string> out;
  for (const auto& l : model.spec().data.response_levels) out.push_back("p_" + l);
  return out;
}

std::string render(const Model& model, const Dataset& data, const std::string& what, double level) {
  const Index K = model.components();
  std::string s;
  auto header_components = [&](const std::string& prefix) {
    for (Index k = 0; k < K; ++k) s += fmt::format("{}{}{}", k ? "," : "", prefix, k + 1);
    s += "\n";
  };
  auto rows = [&](const Matrix& m) {
    for (Index i = 0; i < m.rows(); ++i) {
      for (Index j = 0; j < m.cols(); ++j) s += fmt::format("{}{:.17g}", j ? "," : "", m(i, j));
      s += "\n";
    }
  };
  if (what == "posterior") {
    header_components("posterior_");
    rows(predict_posterior(model, data));
  } else if (what == "gate") {
    header_components("gate_");
    rows(predict_gate(model, data));
  } else if (what == "branch") {
    // Posterior of every inner node below the root, named by its path ("branch_2.1").
    const TreeShape& t = model.tree();
    for (Index v = 1; v < t.inner_nodes(); ++v)
      s += fmt::format("{}branch_{}", v > 1 ? "," : "", t.node_path(v));
    const Matrix b = predict_branch_posterior(model, data);
    s += "\n";
    rows(b);
  } else if (what == "class") {
    s += "class\n";
    for (Index c : predict_class(model, data)) s += fmt::format("{}\n", c + 1);
  } else if (what == "density" || what == "log-density") {
    const Vector ll = predict_log_density(model, data);
    s += what == "density" ? "density\n" : "log_density\n";
    for (Index i = 0; i < ll.size(); ++i)
      s += fmt::format("{:.17g}\n", what == "density" ? std::exp(ll(i)) : ll(i));
  } else if (what == "mean" || what == "hard") {
    // Gated mean, or the prediction of the arg-max gate expert; for logistic experts both
    // are class probabilities, one column per level.
    const auto names = prediction_names(model);
    for (size_t j = 0; j < names.size(); ++j) s += fmt::format("{}{}", j ? "," : "", names[j]);
    s += "\n";
    rows(what == "mean" ? predict_mean(model, data) : predict_hard(model, data));
  } else if (what == "expert-means") {
    // Every expert's own prediction: columns <name>_<k> for k = 1..K.
    const auto names = prediction_names(model);
    const std::vector<Matrix> means = predict_expert_means(model, data);
    for (Index k = 0; k < K; ++k)
      for (size_t j = 0; j < names.size(); ++j)
        s += fmt::format("{}{}_{}", k || j ? "," : "", names[j], k + 1);
    s += "\n";
    Matrix all(data.x.rows(), static_cast<Index>(names.size()) * K);
    for (Index k = 0; k < K; ++k)
      all.middleCols(k * means[0].cols(), means[0].cols()) = means[static_cast<size_t>(k)];
    rows(all);
  } else if (what == "class-probabilities") {
    const auto names = prediction_names(model);
    for (size_t j = 0; j < names.size(); ++j) s += fmt::format("{}{}", j ? "," : "", names[j]);
    s += "\n";
    rows(predict_class_probabilities(model, data));
  } else if (what == "label") {
    // The most probable class under the mixture, as written in the training data.
    const auto& levels = model.spec().data.response_levels;
    s += fmt::format("{}\n", model.spec().data.response_names.empty()
                                 ? "label"
                                 : model.spec().data.response_names[0]);
    for (Index c : predict_labels(model, data))
      s += fmt::format("{}\n", levels[static_cast<size_t>(c)]);
  } else if (what == "quantile" || what == "median") {
    // Predictive quantiles of the mixture, one column per response (gaussian, laplace, t).
    const auto& names = model.spec().data.response_names;
    const std::string suffix = what == "median" ? "_median" : fmt::format("_q{}", level);
    for (size_t j = 0; j < names.size(); ++j)
      s += fmt::format("{}{}{}", j ? "," : "", names[j], suffix);
    s += "\n";
    rows(what == "median" ? predict_median(model, data) : predict_quantile(model, data, level));
  }
  return s;
}

bool needs_response(const std::string& what) {
  static const std::vector<std::string> kNoResponse{
      "gate", "mean", "quantile", "median", "hard", "expert-means", "class-probabilities", "label"};
  return std::find(kNoResponse.begin(), kNoResponse.end(), what) == kNoResponse.end();
}

void check_options(const PredictArgs& a) {
  static const std::vector<std::string> kWhat{
      "posterior", "branch", "class", "density",      "log-density",         "gate", "mean",
      "quantile",  "median", "hard",  "expert-means", "class-probabilities", "label"};
  if (std::find(kWhat.begin(), kWhat.end(), a.what) == kWhat.end())
    throw InputError::option(
        "--what", a.what,
        "must be posterior, branch, class, density, log-density, gate, mean, quantile, median, "
        "hard, "
        "expert-means, class-probabilities or label");
  if (a.what == "quantile" && !(a.level > 0.0 && a.level < 1.0))
    throw InputError::option("--level", fmt::format("{}", a.level),
                             "must be strictly between 0 and 1");
}

#if MOEKIT_HAS_MPI
// mpirun -n P moekit predict: every process predicts the rows of its share of the data (read
// as `fit` reads them: mpi::read_csv_share), and rank 0 writes one output, the processes'
// rows in rank order, which is row order. Every row's prediction is its own, and each share
// is padded to one process's row blocks (mpi::align_to_blocks), so the output is byte for
// byte that of one process.
void mpi_predict(const PredictArgs& a) {
  Model model;
  CsvOptions csv;
  mpi::agree([&] {
    check_options(a);
    if (a.model == "-")
      throw InputError(SourceLocation{a.model},
                       "standard input cannot be shared among MPI processes: give the model "
                       "file's name");
    if (mpi::rank() == 0 && !a.out.empty()) refuse_overwrite(a.out, {a.model, a.data});
    model = model_from_json(read_input_file(a.model, "model file"), a.model);
    csv.delimiter = parse_delimiter(a.delimiter);
  });
  CsvTable table = mpi::read_csv_share(a.data, csv);
  Dataset data;
  mpi::agree([&] {
    data = model_data(table, model, needs_response(a.what), a.model);
    table = CsvTable();
    if (data.grouped())
      throw InputError(
          fmt::format("a model of grouped data ('| {}') cannot predict across MPI processes "
                      "(a group's rows may fall in two processes' shares): run one process",
                      data.group_column));
  });
  const mpi::BlockAlignedShare aligned = mpi::align_to_blocks(data);
  std::string text;
  mpi::agree([&] {
    const std::string all = render(model, aligned.data, a.what, a.level);
    // The header (rank 0's only), then this share's rows without the padding.
    auto after_lines = [&](size_t at, Index lines) {
      for (Index i = 0; i < lines; ++i) at = all.find('\n', at) + 1;
      return at;
    };
    const size_t header = after_lines(0, 1), begin = after_lines(header, aligned.front),
                 end = after_lines(begin, data.rows());
    text =
        (mpi::rank() == 0 ? all.substr(0, header) : std::string()) + all.substr(begin, end - begin);
  });
  std::optional<OutputFile> out;
  mpi::agree([&] {
    if (mpi::rank() == 0 && !a.out.empty()) out.emplace(a.out);
  });
  mpi::write_in_rank_order(text, [&](std::string_view piece) {
    if (out)
      out->write(piece);
    else if (std::fwrite(piece.data(), 1, piece.size(), stdout) != piece.size())
      throw InputError("cannot write the predictions to standard output");
  });
  mpi::agree([&] {
    if (out) out->commit();
  });
}
#endif

void run_predict(const PredictArgs& a) {
#if MOEKIT_HAS_MPI
  if (mpi::launched_by_mpirun()) return mpi_predict(a);
#endif
  check_options(a);
  if (!a.out.empty()) refuse_overwrite(a.out, {a.model, a.data});
  // Read here rather than by load_model, for read_input_file's messages (a folder, stdin).
  const Model model = model_from_json(read_input_file(a.model, "model file"), a.model);
  CsvOptions csv;
  csv.delimiter = parse_delimiter(a.delimiter);
  const CsvTable table = read_csv(a.data, csv);
  const Dataset data = model_data(table, model, needs_response(a.what), a.model);
  const std::string text = render(model, data, a.what, a.level);
  if (a.out.empty())
    fmt::print("{}", text);
  else
    write_file_atomically(a.out, text);
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  CLI::App* cmd =
      app.add_subcommand("predict", "Predict from a fitted model for the rows of a CSV file");
  cmd->add_option("model", a->model, "Model file written by 'moekit fit --out'")->required();
  cmd->add_option("data", a->data, "CSV file with the model's columns ('-' reads standard input)")
      ->required();
  cmd->add_option("--what", a->what,
                  "posterior | branch (inner nodes of a tree) | class (1-based component) | "
                  "density | log-density | gate (each expert's weight: the product of the gates "
                  "on its path) | mean | "
                  "quantile | median | "
                  "hard (arg-max gate expert) | expert-means | class-probabilities | label "
                  "(logistic experts)")
      ->capture_default_str();
  cmd->add_option("--level", a->level, "Level of --what quantile, in (0, 1)")
      ->capture_default_str();
  cmd->add_option("--delimiter", a->delimiter, "Field separator of the CSV");
  cmd->add_option("-o,--out", a->out, "Write the CSV here (atomically) instead of standard output");
  cmd->callback([a] { run_predict(*a); });
}

}  // namespace moekit::cli
