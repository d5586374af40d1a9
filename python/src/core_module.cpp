// moekit._core: the library seen from Python. Data arrive as named columns (a float64
// array, or a list of str/None for a factor) and become a CsvTable, so that formulas,
// factors and grouping read them exactly as the CLI reads a CSV file. The model spec and
// the fit options are built by the CLI's own make_spec / make_fit_options: the same
// defaults, checks and messages. The scikit-learn-shaped classes are in moekit/__init__.py.

#include "fit_args.hpp"
#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/fit_model.hpp"
#include "moekit/infer/criteria.hpp"
#include "moekit/infer/natural_parameters.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/infer/simulate.hpp"
#include "moekit/model/families.hpp"
#include "moekit/model/model_json.hpp"

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace moekit::python {

void bind_deep(py::module_& m);  // deep_module.cpp

namespace {

// Rows are numbered from 1 in messages ("DataFrame:line 3, column 2 ('x'): ...": the third row).
CsvTable table_from_columns(const std::vector<std::string>& names,
                            const py::list& columns,
                            const std::string& source) {
  if (names.size() != columns.size())
    throw InputError("columns: got " + std::to_string(names.size()) + " names for " +
                     std::to_string(columns.size()) + " columns");
  CsvTable table;
  table.source = source;
  Index rows = -1;
  for (size_t c = 0; c < names.size(); ++c) {
    CsvColumn col;
    col.name = names[c];
    const py::handle h = columns[c];
    auto note = [&](CellProblem::Kind kind, Index row, std::string text) {
      if (!col.problem) col.problem = CellProblem{kind, static_cast<std::int64_t>(row + 1), text};
      ++col.problem_count;
    };
    Index n = 0;
    if (py::isinstance<py::array>(h)) {
      auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(h);
      if (!a || a.ndim() != 1)
        throw InputError(source + ": column '" + col.name + "' is not a 1-d numeric array");
      n = static_cast<Index>(a.shape(0));
      col.values.assign(a.data(), a.data() + n);
      for (Index i = 0; i < n; ++i) {
        double& v = col.values[static_cast<size_t>(i)];
        if (std::isnan(v)) {
          note(CellProblem::Kind::Missing, i, "NaN");
        } else if (!std::isfinite(v)) {
          note(CellProblem::Kind::NonFinite, i, v > 0 ? "inf" : "-inf");
          v = std::numeric_limits<double>::quiet_NaN();
        }
      }
    } else {
      // A factor: str cells, None for missing; levels sorted as R's factor() (C locale).
      col.kind = ColumnKind::Text;
      const auto cells = h.cast<std::vector<std::optional<std::string>>>();
      n = static_cast<Index>(cells.size());
      std::map<std::string, int> levels;
      for (const auto& s : cells)
        if (s) levels.emplace(*s, 0);
      int code = 0;
      for (auto& [level, c2] : levels) {
        c2 = code++;
        col.levels.push_back(level);
      }
      col.codes.reserve(cells.size());
      for (Index i = 0; i < n; ++i) {
        const auto& s = cells[static_cast<size_t>(i)];
        if (!s) note(CellProblem::Kind::Missing, i, "None");
        col.codes.push_back(s ? levels.at(*s) : -1);
      }
    }
    if (rows >= 0 && n != rows)
      throw InputError(source + ": column '" + col.name + "' has " + std::to_string(n) +
                       " rows, the first column " + std::to_string(rows));
    rows = n;
    table.columns.push_back(std::move(col));
  }
  if (rows <= 0) throw InputError(source + ": no data rows");
  for (Index i = 0; i < rows; ++i) table.lines.push_back(static_cast<std::int64_t>(i + 1));
  table.index_columns();
  return table;
}

struct Data {
  std::vector<std::string> names;
  py::list columns;
  std::string source = "<data>";
  CsvTable table() const { return table_from_columns(names, columns, source); }
};

// The fit arguments by their CLI names; what the dict leaves out keeps the CLI's default.
cli::FitArgs fit_args(const py::dict& d) {
  cli::FitArgs a;
  for (auto item : d) {
    const auto key = item.first.cast<std::string>();
    const py::handle v = item.second;
    if (key == "formula")
      a.formula = v.cast<std::string>();
    else if (key == "gate_formula")
      a.gate_formula = v.cast<std::string>();
    else if (key == "experts")
      a.experts = v.cast<std::string>();
    else if (key == "gate")
      a.gate = v.cast<std::string>();
    else if (key == "covariance")
      a.covariance = v.cast<std::string>();
    else if (key == "gate_covariance")
      a.gate_covariance = v.cast<std::string>();
    else if (key == "method")
      a.method = v.cast<std::string>();
    else if (key == "init")
      a.init = v.cast<std::string>();
    else if (key == "restarts")
      a.restarts = v.cast<int>();
    else if (key == "max_iter")
      a.max_iter = v.cast<int>();
    else if (key == "threads")
      a.threads = v.cast<int>();
    else if (key == "warmup_iter")
      a.warmup_iter = v.cast<int>();
    else if (key == "seed")
      a.seed = v.cast<std::uint64_t>();
    else if (key == "tol")
      a.tol = v.cast<double>();
    else if (key == "reg_covar")
      a.reg_covar = v.cast<double>();
    else if (key == "gradient_tol")
      a.gradient_tol = v.cast<double>();
    else if (key == "gate_ridge")
      a.gate_ridge = v.cast<double>();
    else if (key == "df")
      a.df = v.cast<double>();
    else
      throw InputError("unknown fit argument '" + key + "'");
  }
  return a;
}

struct Fitted {
  Model model;
  FitResult result;

  Dataset dataset(const Data& d, bool need_response) const {
    return apply_spec(d.table(), model.spec().data, need_response);
  }
};

Fitted fit(const Data& d, const py::dict& args, long K, const std::string& tree) {
  const cli::FitArgs a = fit_args(args);
  Fitted f;
  FitOptions options = cli::make_fit_options(a);
  ModelSpec spec = cli::make_spec(a, static_cast<Index>(K), tree);
  Dataset data = make_dataset(d.table(), spec.data);
  check_rows_for_experts(spec, data);
  f.model = Model(spec, data.y.cols(), data.x.cols(), data.z.cols());
  {
    py::gil_scoped_release release;
    f.result = fit_model(f.model, data, options);
  }
  return f;
}

// The criteria of the model on a data set, as EM reports them on its training data.
py::dict criteria(const Fitted& f, const Data& d) {
  const Dataset data = f.dataset(d, true);
  Posteriors post;
  f.model.e_step(data, post);
  require_finite_rows(post.nodes, data, "posterior");
  const Index n = data.rows();  // as EmFitter: rows, also for grouped data
  const Index p = f.model.num_params();
  const double objective = f.model.joint() ? post.objective : post.loglik;
  const Matrix leaves = post.leaves();
  py::dict out;
  out["loglik"] = post.loglik;
  out["objective"] = objective;
  out["n_obs"] = n;
  out["n_params"] = p;
  out["aic"] = aic(objective, p);
  out["bic"] = bic(objective, p, n);
  out["icl"] =
      data.grouped() ? icl(objective, p, n, group_rows(data, leaves)) : icl(objective, p, leaves);
  return out;
}

Matrix predict(const Fitted& f, const Data& d, const std::string& what, double level) {
  static const std::vector<std::string> kNoResponse{
      "gate", "mean", "quantile", "median", "hard", "expert-means", "class-probabilities"};
  const bool need_response =
      std::find(kNoResponse.begin(), kNoResponse.end(), what) == kNoResponse.end();
  const Dataset data = f.dataset(d, need_response);
  const Model& m = f.model;
  if (what == "posterior") return predict_posterior(m, data);
  if (what == "branch") return predict_branch_posterior(m, data);
  if (what == "log-density") return predict_log_density(m, data);
  if (what == "gate") return predict_gate(m, data);
  if (what == "mean") return predict_mean(m, data);
  if (what == "hard") return predict_hard(m, data);
  if (what == "median") return predict_median(m, data);
  if (what == "class-probabilities") return predict_class_probabilities(m, data);
  if (what == "quantile") {
    if (!(level > 0.0 && level < 1.0))
      throw InputError::option("level", std::to_string(level), "must be strictly between 0 and 1");
    return predict_quantile(m, data, level);
  }
  if (what == "expert-means") {
    // K blocks of columns, one per expert.
    const std::vector<Matrix> means = predict_expert_means(m, data);
    const Index c = means.front().cols();
    Matrix all(data.x.rows(), c * m.components());
    for (Index k = 0; k < m.components(); ++k)
      all.middleCols(k * c, c) = means[static_cast<size_t>(k)];
    return all;
  }
  throw InputError::option("what", what,
                           "must be posterior, branch, log-density, gate, mean, hard, median, "
                           "quantile, expert-means or class-probabilities");
}

py::tuple simulate_rows(const Fitted& f, const Data* d, long n, std::uint64_t seed) {
  const Dataset data = d ? f.dataset(*d, false) : intercept_only_dataset(f.model, n);
  Rng rng(seed);
  const Simulation sim = simulate(f.model, data, rng);
  std::vector<long> component(sim.component.begin(), sim.component.end());
  return py::make_tuple(sim.y, component);
}

}  // namespace

}  // namespace moekit::python

PYBIND11_MODULE(_core, m) {
  using namespace moekit;
  using namespace moekit::python;
  m.doc() = "moekit's library (C++), wrapped for the classes of the moekit package";

  // Most derived first is not needed: pybind11 tries the translators registered last first.
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<InputError> input_error(m, "InputError", PyExc_ValueError);
  static py::exception<ModelFormatError> format_error(m, "ModelFormatError", input_error.ptr());
  static py::exception<NumericalError> numerical_error(m, "NumericalError", error.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ModelFormatError& e) {
      PyErr_SetString(format_error.ptr(), e.what());
    } catch (const InputError& e) {
      PyErr_SetString(input_error.ptr(), e.what());
    } catch (const NumericalError& e) {
      PyErr_SetString(numerical_error.ptr(), e.what());
    } catch (const Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  py::class_<Data>(m, "Data").def(
      py::init([](std::vector<std::string> names, py::list columns, std::string source) {
        return Data{std::move(names), std::move(columns), std::move(source)};
      }),
      py::arg("names"), py::arg("columns"), py::arg("source") = "<data>");

  py::class_<Fitted>(m, "Fitted")
      .def_static("fit", &fit, py::arg("data"), py::arg("args"), py::arg("K"), py::arg("tree") = "",
                  "Fits by EM (or gradient ascent) with the CLI's settings; the GIL is released "
                  "while it runs")
      .def_static(
          "from_json",
          [](const std::string& text, const std::string& source) {
            Fitted f;
            f.model = model_from_json(text, source);
            f.result = fit_record_from_json(text, source);
            return f;
          },
          py::arg("text"), py::arg("source") = "<model>")
      .def("to_json", [](const Fitted& f) { return model_to_json(f.model, &f.result); })
      .def(
          "save",
          [](const Fitted& f, const std::string& path) { save_model(f.model, &f.result, path); },
          py::arg("path"))
      .def("summary", [](const Fitted& f) { return cli::fit_text(f.model, f.result); })
      .def("fit_json", [](const Fitted& f) { return cli::fit_json(f.model, f.result); })
      .def("criteria", &criteria, py::arg("data"))
      .def("predict", &predict, py::arg("data"), py::arg("what"), py::arg("level") = 0.9)
      .def(
          "simulate",
          [](const Fitted& f, const Data* d, long n, std::uint64_t seed) {
            if (!d && n < 1)
              throw InputError::option("n_samples", std::to_string(n), "must be >= 1");
            return simulate_rows(f, d, n, seed);
          },
          py::arg("data").none(true), py::arg("n") = 0, py::arg("seed") = 1)
      .def("natural_parameters",
           [](const Fitted& f) {
             NaturalParameters p = natural_parameters(f.model);
             return py::make_tuple(p.names, p.values);
           })
      .def_property_readonly("components", [](const Fitted& f) { return f.model.components(); })
      .def_property_readonly("n_params", [](const Fitted& f) { return f.model.num_params(); })
      .def_property_readonly("joint", [](const Fitted& f) { return f.model.joint(); })
      .def_property_readonly("tree", [](const Fitted& f) { return f.model.tree().branching(); })
      .def_property_readonly("leaf_paths",
                             [](const Fitted& f) {
                               std::vector<std::string> out;
                               for (Index k = 0; k < f.model.components(); ++k)
                                 out.push_back(f.model.tree().leaf_path(k));
                               return out;
                             })
      .def_property_readonly("response_names",
                             [](const Fitted& f) { return f.model.spec().data.response_names; })
      .def_property_readonly("response_levels",
                             [](const Fitted& f) { return f.model.spec().data.response_levels; })
      .def_property_readonly("x_names", [](const Fitted& f) { return f.model.spec().data.x_names; })
      .def_property_readonly("z_names", [](const Fitted& f) { return f.model.spec().data.z_names; })
      .def_property_readonly("categorical",
                             [](const Fitted& f) { return f.model.experts().categorical(); });

  bind_deep(m);
  m.def("expert_families", &expert_family_names);
  m.def("gate_kinds", &gate_kind_names);
}
