#include "moekit/infer/bootstrap.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/infer/natural_parameters.hpp"
#include "moekit/stats/sample_quantile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>

namespace moekit {

namespace {

// A stream of its own for the bootstrap, apart from the fit's restarts (derive_seed(seed, r)).
constexpr std::uint64_t kBootstrapStream = 0xB0075742A9ULL;

}  // namespace

void BootstrapOptions::validate() const {
  if (replicates < 2)
    throw InputError::option("--bootstrap", std::to_string(replicates), "must be at least 2");
  if (threads < 0) throw InputError::option("--threads", std::to_string(threads), "must be >= 0");
  if (!(level > 0.0 && level < 1.0))
    throw InputError::option("level", fmt::format("{}", level), "must be in (0, 1)");
  fit.validate();
}

Dataset resample(const Dataset& data, Rng& rng) {
  const Index n = data.rows(), G = data.groups();
  // The rows of each group (every row its own group when the data are not grouped).
  std::vector<std::vector<Index>> members(static_cast<size_t>(G));
  for (Index i = 0; i < n; ++i)
    members[static_cast<size_t>(data.grouped() ? data.group[static_cast<size_t>(i)] : i)].push_back(
        i);
  std::vector<Index> rows, group, group_first;
  rows.reserve(static_cast<size_t>(n));
  for (Index g = 0; g < G; ++g) {
    const auto pick = static_cast<size_t>(
        std::min<Index>(G - 1, static_cast<Index>(uniform01(rng) * static_cast<double>(G))));
    // A group drawn twice is two groups of the replicate.
    group_first.push_back(static_cast<Index>(rows.size()));
    for (Index i : members[pick]) {
      rows.push_back(i);
      group.push_back(g);
    }
  }
  const auto m = static_cast<Index>(rows.size());
  Dataset out;
  out.y.resize(m, data.y.cols());
  out.x.resize(m, data.x.cols());
  out.z.resize(m, data.z.cols());
  for (Index r = 0; r < m; ++r) {
    const Index i = rows[static_cast<size_t>(r)];
    if (data.y.rows() == n) out.y.row(r) = data.y.row(i);
    if (data.x.rows() == n) out.x.row(r) = data.x.row(i);
    if (data.z.rows() == n) out.z.row(r) = data.z.row(i);
    out.lines.push_back(data.line_of(i));
  }
  if (data.grouped()) {
    out.group = std::move(group);
    out.group_first = std::move(group_first);
    out.group_column = data.group_column;
  }
  out.source = data.source;
  return out;
}

BootstrapResult bootstrap(const Model& fitted,
                          const Dataset& data,
                          const BootstrapOptions& options) {
  options.validate();
  fitted.check_data(data);
  if (data.weighted())
    throw InputError::option("--bootstrap", std::to_string(options.replicates),
                             "observation weights (--weights) are not supported by the "
                             "bootstrap: resampling would need to know whether they are "
                             "frequencies or survey weights");
  const NaturalParameters natural = natural_parameters(fitted);
  const Matrix J = natural_jacobian(fitted);
  std::vector<Index> free;
  for (Index i = 0; i < J.rows(); ++i)
    if (J.row(i).norm() > 0.0) free.push_back(i);
  const auto m = static_cast<Index>(free.size());

  BootstrapResult out;
  out.replicates = options.replicates;
  out.level = options.level;
  out.estimate.resize(m);
  for (Index c = 0; c < m; ++c) {
    out.names.push_back(natural.names[static_cast<size_t>(free[static_cast<size_t>(c)])]);
    out.estimate(c) = natural.values(free[static_cast<size_t>(c)]);
  }

  FitOptions em = options.fit;
  em.restarts = 1;
  em.threads = 0;  // the replicates own the threads; each EM runs inside one
  em.device = Device::Cpu;
  em.float32 = false;
  em.method = FitMethod::Em;
  em.on_iteration = nullptr;

  const int B = options.replicates;
  std::vector<std::optional<Vector>> rows(static_cast<size_t>(B));
  std::vector<std::string> errors(static_cast<size_t>(B));
  std::vector<char> converged(static_cast<size_t>(B), 0);
  std::mutex progress_mutex;
  int done = 0;
  {
    ScopedNumThreads threads(options.threads);
    const std::uint64_t base = derive_seed(options.seed, kBootstrapStream);
    parallel_tasks(B, [&](Index b) {
      const auto ub = static_cast<size_t>(b);
      Rng rng(derive_seed(base, static_cast<std::uint64_t>(b)));
      const Dataset replicate = resample(data, rng);
      Model model(fitted);
      FitOptions o = em;
      o.seed = derive_seed(base, static_cast<std::uint64_t>(b) + static_cast<std::uint64_t>(B));
      try {
        const FitResult r = EmFitter(o).refine(model, replicate);
        const Vector values = natural_parameters(model).values;
        Vector row(m);
        for (Index c = 0; c < m; ++c) row(c) = values(free[static_cast<size_t>(c)]);
        if (row.allFinite()) {
          rows[ub] = std::move(row);
          converged[ub] = r.converged() ? 1 : 0;
        } else {
          errors[ub] = "a parameter is not finite";
        }
      } catch (const NumericalError& e) {
        errors[ub] = e.what();
      }
      if (options.on_replicate) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        options.on_replicate(++done, B);
      }
    });
  }

  std::vector<size_t> ok;
  for (size_t b = 0; b < rows.size(); ++b) {
    if (rows[b]) {
      ok.push_back(b);
      if (!converged[b]) ++out.not_converged;
    } else {
      ++out.failed;
    }
  }
  if (ok.size() < 2) {
    std::string first;
    for (const auto& e : errors)
      if (!e.empty() && first.empty()) first = e;
    throw NumericalError(
        fmt::format("bootstrap: only {} of {} replicates could be fitted; the first failure: {}",
                    ok.size(), B, first));
  }
  out.draws.resize(static_cast<Index>(ok.size()), m);
  for (size_t r = 0; r < ok.size(); ++r) out.draws.row(static_cast<Index>(r)) = *rows[ok[r]];

  const auto N = static_cast<double>(ok.size());
  out.se.resize(m);
  out.lower.resize(m);
  out.upper.resize(m);
  for (Index c = 0; c < m; ++c) {
    const Vector col = out.draws.col(c);
    const double mean = col.mean();
    out.se(c) = std::sqrt((col.array() - mean).square().sum() / (N - 1.0));
    out.lower(c) = sample_quantile(col, 0.5 * (1.0 - options.level));
    out.upper(c) = sample_quantile(col, 0.5 * (1.0 + options.level));
  }
  if (out.failed > 0) {
    std::string first;
    for (const auto& e : errors)
      if (!e.empty() && first.empty()) first = e;
    out.warnings.push_back(fmt::format(
        "{} of {} bootstrap replicates could not be fitted and were left out (the first: {}); "
        "the bootstrap standard errors rest on the other {}",
        out.failed, B, first, ok.size()));
  }
  if (out.not_converged > 0)
    out.warnings.push_back(
        fmt::format("{} of {} bootstrap replicates stopped at the iteration cap {} before "
                    "converging; they are kept",
                    out.not_converged, B, em.max_iter));
  return out;
}

void merge_bootstrap(std::vector<ParameterInference>& table, const BootstrapResult& b) {
  for (size_t c = 0; c < b.names.size(); ++c) {
    const auto i = static_cast<Index>(c);
    auto it = std::find_if(table.begin(), table.end(),
                           [&](const ParameterInference& r) { return r.parameter == b.names[c]; });
    if (it == table.end()) {
      ParameterInference row;
      row.parameter = b.names[c];
      row.estimate = b.estimate(i);
      table.push_back(row);
      it = table.end() - 1;
    }
    it->bootstrap_se = b.se(i);
    it->lower = b.lower(i);
    it->upper = b.upper(i);
  }
}

}  // namespace moekit
