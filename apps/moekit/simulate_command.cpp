// moekit simulate MODEL.json [DATA.csv | --n N] [--seed S]: draws responses (and the
// component of each row) from a fitted model, as CSV.

#include "commands.hpp"
#include "fit_args.hpp"
#include "model_data.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/input_file.hpp"
#include "moekit/core/output_file.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/infer/simulate.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moekit::cli {

namespace {

constexpr long kNoCount = -1;
constexpr long kMaxDraws = 10'000'000;

struct SimulateArgs {
  std::string model, data, out, delimiter = ",";
  long n = kNoCount;
  std::uint64_t seed = 1;
};

// A text cell, quoted (RFC 4180) when it holds the delimiter, a quote or a line break.
std::string text_cell(const std::string& s, char delimiter) {
  if (s.find_first_of(std::string("\"\r\n") + delimiter) == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// The shortest text that reads back to the same double; NA where the cell had a problem.
std::string number_cell(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "NA"; }

std::string render(const Model& model,
                   const CsvTable* table,
                   const Simulation& sim,
                   char delimiter) {
  const DataSpec& spec = model.spec().data;
  const Index n = static_cast<Index>(sim.component.size());
  const std::string sep(1, delimiter);
  auto response_cell = [&](Index i, Index j) {
    if (!spec.categorical_response) return number_cell(sim.y(i, j));
    return text_cell(spec.response_levels[static_cast<size_t>(sim.y(i, j))], delimiter);
  };
  // Columns: the table's, with each response column replaced by its draws (responses the
  // table lacks are appended), then the component (1-based).
  std::vector<int> response_of_column;
  std::vector<Index> appended;
  if (table)
    for (const auto& c : table->columns) {
      const auto it = std::find(spec.response_names.begin(), spec.response_names.end(), c.name);
      response_of_column.push_back(it == spec.response_names.end()
                                       ? -1
                                       : static_cast<int>(it - spec.response_names.begin()));
    }
  for (size_t j = 0; j < spec.response_names.size(); ++j)
    if (std::find(response_of_column.begin(), response_of_column.end(), static_cast<int>(j)) ==
        response_of_column.end())
      appended.push_back(static_cast<Index>(j));
  std::string component_name = "component";
  while (table && table->find(component_name) >= 0) component_name = "." + component_name;

  std::string s;
  std::vector<std::string> header;
  if (table)
    for (const auto& c : table->columns) header.push_back(text_cell(c.name, delimiter));
  for (Index j : appended)
    header.push_back(text_cell(spec.response_names[static_cast<size_t>(j)], delimiter));
  header.push_back(component_name);
  s += fmt::format("{}\n", fmt::join(header, sep));
  std::vector<std::string> row;
  for (Index i = 0; i < n; ++i) {
    row.clear();
    if (table)
      for (size_t c = 0; c < table->columns.size(); ++c) {
        const CsvColumn& col = table->columns[c];
        if (response_of_column[c] >= 0)
          row.push_back(response_cell(i, response_of_column[c]));
        else if (col.kind == ColumnKind::Numeric)
          row.push_back(number_cell(col.values[static_cast<size_t>(i)]));
        else {
          const int code = col.codes[static_cast<size_t>(i)];
          row.push_back(code < 0 ? "NA"
                                 : text_cell(col.levels[static_cast<size_t>(code)], delimiter));
        }
      }
    for (Index j : appended) row.push_back(response_cell(i, j));
    row.push_back(std::to_string(sim.component[static_cast<size_t>(i)] + 1));
    s += fmt::format("{}\n", fmt::join(row, sep));
  }
  return s;
}

void run_simulate(const SimulateArgs& a) {
  const bool have_n = a.n != kNoCount;
  if (a.data.empty() && !have_n)
    throw InputError(
        "simulate: give a DATA.csv (one draw per row) or --n N (a model without "
        "covariates)");
  if (!a.data.empty() && have_n)
    throw InputError::option("--n", std::to_string(a.n),
                             "draws one row per row of DATA.csv; give DATA.csv or --n, not both");
  if (have_n && a.n < 1) throw InputError::option("--n", std::to_string(a.n), "must be >= 1");
  // The draws and their CSV are built in memory (some 100 bytes a row): a limit that fails
  // at once instead of after exhausting the machine.
  if (have_n && a.n > kMaxDraws)
    throw InputError::option(
        "--n", std::to_string(a.n),
        fmt::format("at most {} rows in one run; draw more with several runs and --seed",
                    kMaxDraws));
  if (!a.out.empty()) refuse_overwrite(a.out, {a.model, a.data});
  const char delimiter = parse_delimiter(a.delimiter);
  // Read here rather than by load_model, for read_input_file's messages (a folder, stdin).
  const Model model = model_from_json(read_input_file(a.model, "model file"), a.model);
  std::optional<CsvTable> table;
  Dataset data;
  if (!a.data.empty()) {
    CsvOptions csv;
    csv.delimiter = delimiter;
    table = read_csv(a.data, csv);
    data = model_data(*table, model, false, a.model);
  } else {
    data = intercept_only_dataset(model, static_cast<Index>(a.n));
  }
  Rng rng(a.seed);
  const Simulation sim = simulate(model, data, rng);
  const std::string text = render(model, table ? &*table : nullptr, sim, delimiter);
  if (a.out.empty())
    fmt::print("{}", text);
  else
    write_file_atomically(a.out, text);
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto a = std::make_shared<SimulateArgs>();
  CLI::App* cmd =
      app.add_subcommand("simulate", "Draw responses and components from a fitted model, as CSV");
  cmd->add_option("model", a->model, "Model file written by 'moekit fit --out'")->required();
  cmd->add_option("data", a->data,
                  "CSV with the model's covariate columns: one draw per row, the other columns "
                  "kept ('-' reads standard input)");
  cmd->add_option("--n", a->n, "Number of rows to draw, for a model without covariates");
  cmd->add_option("--seed", a->seed, "Random seed (the draws are reproducible for a seed)")
      ->capture_default_str();
  cmd->add_option("--delimiter", a->delimiter, "Field separator of the CSVs (',' or 'tab')");
  cmd->add_option("-o,--out", a->out, "Write the CSV here (atomically) instead of standard output");
  cmd->callback([a] { run_simulate(*a); });
}

}  // namespace moekit::cli
