#include "moekit/config.hpp"

#if MOEKIT_HAS_MPI

#include "moekit/backend/mpi_backend.hpp"
#include "moekit/backend/mpi_session.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/data/formula.hpp"
#include "moekit/experts/gaussian_regression.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/stats/gaussian_moments.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <glob.h>
#include <mpi.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>

namespace moekit::mpi {

namespace {

using Clock = std::chrono::steady_clock;

int to_int(Index count, const char* what) {
  if (count > INT_MAX)
    throw InputError(
        fmt::format("MPI: {} ({}) exceeds what one message carries; use more "
                    "processes",
                    what, count));
  return static_cast<int>(count);
}

// Every process gets every process's values and adds them in rank order: the same bits
// everywhere, so every process takes the same decisions (MPI_Allreduce leaves the order of
// summation to the library).
void sum_in_rank_order(double* values, Index count) {
  if (size() == 1 || count == 0) return;
  const int n = to_int(count, "the values to sum");
  std::vector<double> all(static_cast<size_t>(n) * static_cast<size_t>(size()));
  MPI_Allgather(values, n, MPI_DOUBLE, all.data(), n, MPI_DOUBLE, MPI_COMM_WORLD);
  for (Index j = 0; j < count; ++j) values[j] = 0.0;
  for (int r = 0; r < size(); ++r)
    for (Index j = 0; j < count; ++j) values[j] += all[static_cast<size_t>(r) * n + j];
}

std::int64_t sum_int(std::int64_t v) {
  std::int64_t total = 0;
  MPI_Allreduce(&v, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return total;
}

// The sum over the ranks below this one.
std::int64_t sum_below(std::int64_t v) {
  std::int64_t below = 0;
  MPI_Exscan(&v, &below, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return rank() == 0 ? 0 : below;
}

// A row's place in the common sample: a hash of its global number (SplitMix64), so that
// the sample does not depend on how the rows are split.
bool in_sample(std::int64_t row, double fraction) {
  std::uint64_t z = static_cast<std::uint64_t>(row) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53 < fraction;
}

// The rows of `share` that `keep` selects, from every process, in rank order.
Dataset gather_rows(const Dataset& share, const std::vector<Index>& keep) {
  const Index cols = share.x.cols() + share.y.cols() + share.z.cols();
  const Index mine = static_cast<Index>(keep.size());
  std::vector<double> values(static_cast<size_t>(mine * cols));
  std::vector<std::int64_t> lines(static_cast<size_t>(mine));
  for (Index i = 0; i < mine; ++i) {
    const Index row = keep[static_cast<size_t>(i)];
    double* out = values.data() + i * cols;
    for (Index j = 0; j < share.x.cols(); ++j) *out++ = share.x(row, j);
    for (Index j = 0; j < share.y.cols(); ++j) *out++ = share.y(row, j);
    for (Index j = 0; j < share.z.cols(); ++j) *out++ = share.z(row, j);
    lines[static_cast<size_t>(i)] = share.line_of(row);
  }
  const int P = size();
  std::vector<int> counts(static_cast<size_t>(P)), offsets(static_cast<size_t>(P));
  int count = to_int(mine, "the rows gathered");
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  Index total = 0;
  for (int r = 0; r < P; ++r) total += counts[static_cast<size_t>(r)];
  Dataset out;
  out.source = share.source;
  out.lines.resize(static_cast<size_t>(total));
  for (int r = 0, at = 0; r < P; at += counts[static_cast<size_t>(r)], ++r)
    offsets[static_cast<size_t>(r)] = at;
  MPI_Allgatherv(lines.data(), count, MPI_INT64_T, out.lines.data(), counts.data(), offsets.data(),
                 MPI_INT64_T, MPI_COMM_WORLD);
  std::vector<double> all(static_cast<size_t>(total * cols));
  for (int r = 0; r < P; ++r) {
    counts[static_cast<size_t>(r)] = to_int(counts[static_cast<size_t>(r)] * cols, "the values");
    offsets[static_cast<size_t>(r)] =
        to_int(static_cast<Index>(offsets[static_cast<size_t>(r)]) * cols, "the values");
  }
  MPI_Allgatherv(values.data(), to_int(mine * cols, "the values"), MPI_DOUBLE, all.data(),
                 counts.data(), offsets.data(), MPI_DOUBLE, MPI_COMM_WORLD);
  out.x.resize(total, share.x.cols());
  out.y.resize(total, share.y.cols());
  out.z.resize(total, share.z.cols());
  for (Index i = 0; i < total; ++i) {
    const double* in = all.data() + i * cols;
    for (Index j = 0; j < out.x.cols(); ++j) out.x(i, j) = *in++;
    for (Index j = 0; j < out.y.cols(); ++j) out.y(i, j) = *in++;
    for (Index j = 0; j < out.z.cols(); ++j) out.z(i, j) = *in++;
  }
  return out;
}

// M_k = sum_i r_ik f_ik f_ik', f_ik = [1; x_i; y_i - B_k' x_i] (gaussian_moments.hpp), over
// fixed row blocks reduced in block order; M_k is columns [k m, (k + 1) m).
Matrix row_moments(const kernels::GaussianRegressionStorage& s,
                   const Dataset& data,
                   const ConstMatrixRef& post) {
  const Index K = s.K, p = s.p, q = s.q, m = 1 + p + q, bp = std::max<Index>(p, 1);
  std::vector<Matrix> B(static_cast<size_t>(K), Matrix(bp, q));
  for (Index k = 0; k < K; ++k)
    for (Index j = 0; j < bp; ++j)
      for (Index c = 0; c < q; ++c)
        B[static_cast<size_t>(k)](j, c) = s.coef[static_cast<size_t>((k * bp + j) * q + c)];
  return reduce_blocks(
      data.rows(), Matrix(Matrix::Zero(m, K * m)), [&](Index begin, Index size, Matrix& acc) {
        Matrix F(size, m), W(size, m);
        F.col(0).setOnes();
        if (p > 0) F.middleCols(1, p) = data.x.middleRows(begin, size);
        for (Index k = 0; k < K; ++k) {
          const Matrix& Bk = B[static_cast<size_t>(k)];
          if (p > 0)
            F.rightCols(q) = data.y.middleRows(begin, size) - data.x.middleRows(begin, size) * Bk;
          else
            F.rightCols(q) = data.y.middleRows(begin, size).rowwise() - Bk.row(0);
          W = F.array().colwise() * post.col(k).segment(begin, size).array();
          acc.middleCols(k * m, m).noalias() += F.transpose() * W;
        }
      });
}

// The M-step's sums over this process's rows (Posteriors::shares), summed in rank order.
class RankOrderReduction final : public ProcessReduction {
 public:
  void sum(double* values, Index count) const override {
    const auto t0 = Clock::now();
    sum_in_rank_order(values, count);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    sums += 1;
    bytes += static_cast<double>(count) * sizeof(double);
  }
  void max(double* values, Index count) const override {
    maxima += 1;
    if (size() == 1) return;
    std::vector<double> mine(values, values + count);
    MPI_Allreduce(mine.data(), values, to_int(count, "the values"), MPI_DOUBLE, MPI_MAX,
                  MPI_COMM_WORLD);
  }
  // For MOEKIT_MPI_STATS: calls, bytes sent by sum() and its time.
  mutable long sums = 0, maxima = 0;
  mutable double bytes = 0, seconds = 0;
};

class MpiBackend final : public EStepBackend {
 public:
  explicit MpiBackend(const Dataset& share) {
    total_ = static_cast<Index>(sum_int(share.rows()));
    const std::int64_t first = sum_below(share.rows());
    std::vector<Index> keep;
    const double fraction =
        static_cast<double>(kCommonRows) / static_cast<double>(std::max<Index>(total_, 1));
    for (Index i = 0; i < share.rows(); ++i)
      if (total_ <= kCommonRows || in_sample(first + i, fraction)) keep.push_back(i);
    common_ = gather_rows(share, keep);
    // var(y_j) over all rows, two passes as response_variance() takes them.
    const Index q = share.y.cols();
    Vector sum = share.y.colwise().sum().transpose();
    sum_in_rank_order(sum.data(), q);
    const Vector mean = sum / static_cast<double>(total_);
    Vector squares = (share.y.rowwise() - mean.transpose()).array().square().colwise().sum();
    sum_in_rank_order(squares.data(), q);
    response_variance_ =
        total_ < 2 ? Vector(Vector::Zero(q)) : Vector(squares / static_cast<double>(total_ - 1));
  }

  // MOEKIT_MPI_STATS=1: each process prints what its E-steps cost (docs/scale-out.md).
  ~MpiBackend() override {
    if (!stats_.enabled || stats_.esteps == 0) return;
    const double e = static_cast<double>(stats_.esteps);
    std::fprintf(stderr,
                 "mpi stats: rank %d of %d: %ld rows, %ld E-steps, %.0f bytes summed per E-step "
                 "(%.0f received); per E-step: local E-step + moments %.3f ms, waiting for "
                 "the slowest process %.3f ms, reductions %.3f ms\n",
                 rank(), size(), static_cast<long>(rows_.rows()), stats_.esteps, stats_.bytes,
                 stats_.bytes * size(), 1e3 * stats_.local_seconds / e,
                 1e3 * stats_.wait_seconds / e, 1e3 * stats_.reduce_seconds / e);
    if (reduction_.sums > 0)
      std::fprintf(stderr,
                   "mpi stats: rank %d of %d: M-steps over the rows: %ld sums (%.0f bytes sent "
                   "in all, %.3f ms in all) and %ld maxima\n",
                   rank(), size(), reduction_.sums, reduction_.bytes, 1e3 * reduction_.seconds,
                   reduction_.maxima);
  }

  std::string name() const override { return fmt::format("mpi ({} processes)", size()); }

  void estep(const Model& model, const Dataset& data, Posteriors& out) const override {
    // Gaussian-regression experts are fitted from their moments; other experts and the gates
    // that read covariates (softmax, Gaussian) or sit in a tree from this process's rows,
    // every sum of their M-steps summed over the processes (Posteriors::shares).
    kernels::GaussianRegressionStorage s;
    const GaussianRegression* g = model.experts().gaussian_regression();
    if (g) g->export_pack(s);
    const bool rows = !g || model.gates_read_covariates() || model.num_gates() > 1;
    const Index K = model.components(), m = g ? 1 + s.p + s.q : 0;
    // The log-likelihood, EM's objective, then the moments (else the leaf masses).
    std::vector<double> sums(static_cast<size_t>(2 + (g ? K * m * m : K)), 0.0);
    const auto t0 = Clock::now();
    std::exception_ptr error;
    try {
      model.e_step(data, rows_);
      sums[0] = rows_.loglik;
      sums[1] = rows_.objective;
      if (g) {
        const Matrix M = row_moments(s, data, rows_.leaves());
        std::copy(M.data(), M.data() + K * m * m, sums.data() + 2);
      } else {
        std::copy(rows_.leaf_masses.data(), rows_.leaf_masses.data() + K, sums.data() + 2);
      }
    } catch (...) {
      error = std::current_exception();
    }
    const auto local = Clock::now();
    // Timing only: the wait for the slowest process, apart from the reductions' own cost.
    if (stats_.enabled) MPI_Barrier(MPI_COMM_WORLD);
    const auto t1 = Clock::now();
    settle(error);
    sum_in_rank_order(sums.data(), static_cast<Index>(sums.size()));
    stats_.esteps += 1;
    stats_.local_seconds += std::chrono::duration<double>(local - t0).count();
    stats_.wait_seconds += std::chrono::duration<double>(t1 - local).count();
    stats_.reduce_seconds += std::chrono::duration<double>(Clock::now() - t1).count();
    stats_.bytes = static_cast<double>(sums.size() * sizeof(double));
    out.leaf_count = K;
    out.loglik = sums[0];
    out.objective = sums[1];
    out.shares = &reduction_;
    if (rows) {
      out.nodes = rows_.nodes;
      out.row_loglik = rows_.row_loglik;
    } else {
      out.nodes.resize(0, rows_.nodes.cols());
      out.row_loglik.resize(0);
    }
    if (g) {
      GaussianMoments moments;
      moments.p = s.p;
      moments.q = s.q;
      moments.response_variance = response_variance_;
      for (Index k = 0; k < K; ++k)
        moments.M.push_back(Eigen::Map<const Matrix>(sums.data() + 2 + k * m * m, m, m));
      out.leaf_masses = moments.masses();
      out.moments = std::move(moments);
    } else {
      out.leaf_masses = Eigen::Map<const Vector>(sums.data() + 2, K);
      out.moments.reset();
    }
    last_model_ = model;
  }

  void fetch(const Model&, const Dataset&, Posteriors& out) const override {
    if (out.has_rows()) return;
    out.nodes = rows_.nodes;
    out.row_loglik = rows_.row_loglik;
  }

  const Dataset& common_rows(const Dataset&) const override { return common_; }
  Index total_rows(const Dataset&) const override { return total_; }
  void sum_over_processes(double* values, Index count) const override {
    sum_in_rank_order(values, count);
  }
  Vector common_row_loglik(const Model&, const Dataset&, Posteriors& post) const override {
    // Posteriors of this backend's E-step hold this process's rows, if any: the common rows'
    // log-likelihoods come from that E-step's parameters. Others (a start's) are the common
    // rows' own.
    if (post.shares != &reduction_ || !last_model_) return post.row_loglik;
    Posteriors p;
    last_model_->e_step(common_, p);
    return p.row_loglik;
  }

 private:
  Index total_ = 0;
  Dataset common_;
  Vector response_variance_;
  RankOrderReduction reduction_;
  mutable Posteriors rows_;
  mutable std::optional<Model> last_model_;
  struct Stats {
    bool enabled = std::getenv("MOEKIT_MPI_STATS") != nullptr;
    long esteps = 0;
    double local_seconds = 0, wait_seconds = 0, reduce_seconds = 0, bytes = 0;
  };
  mutable Stats stats_;
};

// --- reading shares -------------------------------------------------------------------

std::vector<std::string> list_files(const std::string& path) {
  std::vector<std::string> files;
  if (path.find(',') != std::string::npos) {
    size_t at = 0;
    for (;;) {
      const size_t comma = path.find(',', at);
      files.push_back(path.substr(at, comma == std::string::npos ? comma : comma - at));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    return files;
  }
  if (path.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    const int rc = ::glob(path.c_str(), 0, nullptr, &g);
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.empty()) throw InputError(SourceLocation{path}, "no file matches this pattern");
    std::sort(files.begin(), files.end());
    return files;
  }
  return {path};
}

class File {
 public:
  explicit File(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY)) {
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0)
      throw InputError(SourceLocation{path},
                       fmt::format("cannot read the data file: {}", std::strerror(errno)));
    if (!S_ISREG(st.st_mode))
      throw InputError(SourceLocation{path},
                       "not a regular file: under MPI each process reads its share of a file");
    size_ = static_cast<std::int64_t>(st.st_size);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  std::int64_t size() const { return size_; }
  std::string read(std::int64_t begin, std::int64_t end) const {
    std::string out(static_cast<size_t>(std::max<std::int64_t>(0, end - begin)), '\0');
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t got = ::pread(fd_, out.data() + done, out.size() - done,
                                  static_cast<off_t>(begin + static_cast<std::int64_t>(done)));
      if (got <= 0)
        throw InputError(SourceLocation{path_},
                         fmt::format("read failed: {}", got < 0 ? std::strerror(errno) : "EOF"));
      done += static_cast<size_t>(got);
    }
    return out;
  }
  // The first byte at or after `at` that begins a line (size() when none does).
  std::int64_t line_start(std::int64_t at) const {
    if (at <= 0) return 0;
    constexpr std::int64_t kChunk = 1 << 16;
    for (std::int64_t pos = at - 1; pos < size_; pos += kChunk) {
      const std::string s = read(pos, std::min(size_, pos + kChunk));
      const size_t nl = s.find('\n');
      if (nl != std::string::npos) return pos + static_cast<std::int64_t>(nl) + 1;
    }
    return size_;
  }

 private:
  std::string path_;
  int fd_;
  std::int64_t size_ = 0;
};

// --- agreeing on what one process would read ------------------------------------------

// Every process's strings, in rank order.
std::vector<std::vector<std::string>> gather_strings(const std::vector<std::string>& mine) {
  const int P = size();
  std::vector<int> lengths;
  std::string chars;
  for (const auto& v : mine) {
    lengths.push_back(to_int(static_cast<Index>(v.size()), "a text"));
    chars += v;
  }
  int count = to_int(static_cast<Index>(mine.size()), "the texts"),
      bytes = to_int(static_cast<Index>(chars.size()), "the texts");
  std::vector<int> counts(static_cast<size_t>(P)), sizes(static_cast<size_t>(P));
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  MPI_Allgather(&bytes, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD);
  auto offsets = [&](const std::vector<int>& n) {
    std::vector<int> at(static_cast<size_t>(P), 0);
    for (int r = 1; r < P; ++r)
      at[static_cast<size_t>(r)] =
          to_int(static_cast<Index>(at[static_cast<size_t>(r - 1)]) + n[static_cast<size_t>(r - 1)],
                 "the texts");
    return at;
  };
  const std::vector<int> count_at = offsets(counts), size_at = offsets(sizes);
  std::vector<int> all_lengths(static_cast<size_t>(count_at.back() + counts.back()));
  std::string all_chars(static_cast<size_t>(size_at.back() + sizes.back()), '\0');
  MPI_Allgatherv(lengths.data(), count, MPI_INT, all_lengths.data(), counts.data(), count_at.data(),
                 MPI_INT, MPI_COMM_WORLD);
  MPI_Allgatherv(chars.data(), bytes, MPI_CHAR, all_chars.data(), sizes.data(), size_at.data(),
                 MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::vector<std::string>> out(static_cast<size_t>(P));
  size_t item = 0, at = 0;
  for (int r = 0; r < P; ++r)
    for (int i = 0; i < counts[static_cast<size_t>(r)]; ++i, ++item) {
      const auto n = static_cast<size_t>(all_lengths[item]);
      out[static_cast<size_t>(r)].push_back(all_chars.substr(at, n));
      at += n;
    }
  return out;
}

// A column's kind as its cells fixed it: unknown while every cell is missing.
enum ColumnState : int { kUnknown = 0, kNumeric = 1, kText = 2 };
ColumnState column_state(const CsvColumn& c, Index rows) {
  if (c.kind == ColumnKind::Text) return kText;
  if (c.problem && c.problem->kind == CellProblem::Kind::Missing && c.problem_count == rows)
    return kUnknown;
  return kNumeric;
}

// The kinds, levels and cell problems of `table` (this process's rows) made those that one
// process reading all the rows would give (csv.hpp): a column's kind is fixed by the file's
// first non-missing cell (the lowest rank that has one), a text column's levels are the sorted
// union of every process's, and a column's first problem is the lowest rank's, counted over
// all. A process whose cells fixed another kind parses its share again with the agreed kinds.
void agree_columns(CsvTable& table, const std::function<CsvTable(const CsvOptions&)>& parse) {
  const int P = size();
  const auto width = static_cast<Index>(table.columns.size());
  agree([&] {
    std::vector<std::string> names;
    for (const auto& c : table.columns) names.push_back(c.name);
    const auto all = gather_strings(names);
    for (int r = 1; r < P; ++r)
      if (all[static_cast<size_t>(r)] != all[0])
        throw InputError(SourceLocation{table.source},
                         fmt::format("the header of process {}'s rows differs from process 0's: "
                                     "every file must have the same columns",
                                     r));
  });
  const int w = to_int(width, "the columns");
  std::vector<int> states(static_cast<size_t>(w)), all(static_cast<size_t>(w) * P);
  for (Index j = 0; j < width; ++j)
    states[static_cast<size_t>(j)] =
        column_state(table.columns[static_cast<size_t>(j)], table.rows());
  MPI_Allgather(states.data(), w, MPI_INT, all.data(), w, MPI_INT, MPI_COMM_WORLD);
  CsvOptions fixed;
  bool again = false;
  for (Index j = 0; j < width; ++j) {
    int kind = kUnknown;
    for (int r = 0; r < P && kind == kUnknown; ++r) kind = all[static_cast<size_t>(r) * w + j];
    const int mine = states[static_cast<size_t>(j)];
    if (kind == kUnknown) continue;
    fixed.kinds[table.columns[static_cast<size_t>(j)].name] =
        kind == kText ? ColumnKind::Text : ColumnKind::Numeric;
    again = again || (mine != kind && !(mine == kUnknown && kind == kNumeric));
  }
  agree([&] {
    if (again) table = parse(fixed);
  });
  // Levels: the sorted union (csv.hpp sorts each process's), codes mapped onto it.
  std::vector<std::string> mine;
  for (const auto& c : table.columns)
    if (c.kind == ColumnKind::Text) {
      mine.push_back(std::to_string(c.levels.size()));
      mine.insert(mine.end(), c.levels.begin(), c.levels.end());
    }
  const auto levels = gather_strings(mine);
  std::vector<size_t> at(static_cast<size_t>(P), 0);
  for (auto& c : table.columns) {
    if (c.kind != ColumnKind::Text) continue;
    std::set<std::string> merged;
    for (int r = 0; r < P; ++r) {
      const auto& list = levels[static_cast<size_t>(r)];
      size_t& i = at[static_cast<size_t>(r)];
      const size_t n = std::stoul(list[i++]);
      merged.insert(list.begin() + static_cast<std::ptrdiff_t>(i),
                    list.begin() + static_cast<std::ptrdiff_t>(i + n));
      i += n;
    }
    std::vector<std::string> sorted(merged.begin(), merged.end());
    std::vector<int> remap(c.levels.size());
    for (size_t l = 0; l < c.levels.size(); ++l)
      remap[l] = static_cast<int>(std::lower_bound(sorted.begin(), sorted.end(), c.levels[l]) -
                                  sorted.begin());
    for (int& code : c.codes)
      if (code >= 0) code = remap[static_cast<size_t>(code)];
    c.levels = std::move(sorted);
  }
  // Problems: the first in the file (the lowest rank's first), counted over all processes.
  std::vector<std::int64_t> record(static_cast<size_t>(4 * w)),
      records(static_cast<size_t>(4 * w) * P);
  std::vector<std::string> texts;
  for (Index j = 0; j < width; ++j) {
    const CsvColumn& c = table.columns[static_cast<size_t>(j)];
    std::int64_t* out = record.data() + 4 * j;
    out[0] = c.problem ? 1 : 0;
    out[1] = c.problem ? static_cast<std::int64_t>(c.problem->kind) : 0;
    out[2] = c.problem ? c.problem->line : 0;
    out[3] = c.problem_count;
    texts.push_back(c.problem ? c.problem->text : std::string());
  }
  MPI_Allgather(record.data(), 4 * w, MPI_INT64_T, records.data(), 4 * w, MPI_INT64_T,
                MPI_COMM_WORLD);
  const auto all_texts = gather_strings(texts);
  for (Index j = 0; j < width; ++j) {
    CsvColumn& c = table.columns[static_cast<size_t>(j)];
    c.problem.reset();
    c.problem_count = 0;
    for (int r = 0; r < P; ++r) {
      const std::int64_t* in = records.data() + static_cast<size_t>(r) * 4 * w + 4 * j;
      if (in[0] && !c.problem)
        c.problem = CellProblem{static_cast<CellProblem::Kind>(in[1]), in[2],
                                all_texts[static_cast<size_t>(r)][static_cast<size_t>(j)]};
      c.problem_count += in[3];
    }
  }
}

}  // namespace

CsvTable read_csv_share(const std::string& path, const CsvOptions& options) {
  const int P = size(), r = rank();
  std::vector<std::string> files;
  agree([&] {
    if (path == "-")
      throw InputError(SourceLocation{path},
                       "standard input cannot be shared among MPI processes: give a file");
    files = list_files(path);
    if (files.size() > 1 && files.size() != static_cast<size_t>(P))
      throw InputError(SourceLocation{path},
                       fmt::format("names {} files for {} processes: give one file per process "
                                   "(rank r reads the r-th in sorted order) or one file",
                                   files.size(), P));
  });
  CsvTable table;
  if (files.size() > 1) {
    const std::string& file = files[static_cast<size_t>(r)];
    agree([&] { table = read_csv(file, options); });
    agree_columns(table, [&](const CsvOptions& kinds) {
      CsvOptions o = options;
      o.kinds = kinds.kinds;
      return read_csv(file, o);
    });
    return table;
  }
  std::string text;
  std::int64_t lines = 0;
  std::int64_t header_bytes = 0;
  agree([&] {
    const File file(path);
    header_bytes = file.line_start(1);
    const std::int64_t body = file.size() - header_bytes;
    auto cut = [&](int rank) {
      return rank == 0   ? header_bytes
             : rank == P ? file.size()
                         : file.line_start(header_bytes + body * rank / P);
    };
    const std::int64_t begin = cut(r), end = cut(r + 1);
    text = file.read(0, header_bytes);
    text += file.read(begin, end);
    lines = static_cast<std::int64_t>(
        std::count(text.begin() + static_cast<std::ptrdiff_t>(header_bytes), text.end(), '\n'));
    if (text.find_first_not_of(" \t\r\n", static_cast<size_t>(header_bytes)) == std::string::npos)
      throw InputError(SourceLocation{path},
                       fmt::format("process {} of {} got no rows: the file has fewer data lines "
                                   "than processes; run fewer processes",
                                   r, P));
  });
  CsvOptions share = options;
  share.line_offset = sum_below(lines);
  agree([&] { table = parse_csv(text, path, share); });
  agree_columns(table, [&](const CsvOptions& kinds) {
    CsvOptions o = share;
    o.kinds = kinds.kinds;
    return parse_csv(text, path, o);
  });
  return table;
}

void agree_class_labels(CsvTable& table, const DataSpec& spec) {
  int column = -1;
  agree([&] {
    if (!spec.categorical_response || spec.formula.empty()) return;
    const Formula f = parse_formula(spec.formula);
    if (f.responses.size() != 1 || f.responses[0]->kind != Expr::Kind::Column) return;
    const int j = table.find(f.responses[0]->name);
    // Kinds and problems are agreed (read_csv_share): every process returns here alike, and
    // make_dataset reports a problem as one process does.
    if (j < 0) return;
    const CsvColumn& c = table.columns[static_cast<size_t>(j)];
    if (c.kind == ColumnKind::Text || c.problem) return;
    for (size_t i = 0; i < c.values.size(); ++i)
      if (std::floor(c.values[i]) != c.values[i])
        throw InputError(
            SourceLocation{table.source, table.lines[i], j + 1, c.name},
            fmt::format("class labels must be text or whole numbers, not {}: logistic "
                        "experts model classes; use --experts linear (or laplace, t) for "
                        "a continuous response",
                        c.values[i]));
    column = j;
  });
  if (column < 0) return;
  CsvColumn& c = table.columns[static_cast<size_t>(column)];
  std::vector<double> mine(c.values);
  std::sort(mine.begin(), mine.end());
  mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
  const int P = size();
  int count = to_int(static_cast<Index>(mine.size()), "the class labels");
  std::vector<int> counts(static_cast<size_t>(P)), offsets(static_cast<size_t>(P), 0);
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  for (int r = 1; r < P; ++r)
    offsets[static_cast<size_t>(r)] =
        offsets[static_cast<size_t>(r - 1)] + counts[static_cast<size_t>(r - 1)];
  std::vector<double> all(static_cast<size_t>(offsets.back() + counts.back()));
  MPI_Allgatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(),
                 MPI_DOUBLE, MPI_COMM_WORLD);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  // The levels one process gives numeric labels (make_dataset): the distinct values in
  // numeric order, written as numbers; the column becomes text with those levels.
  c.levels.clear();
  for (double v : all) c.levels.push_back(fmt::format("{}", v));
  c.codes.resize(c.values.size());
  for (size_t i = 0; i < c.values.size(); ++i)
    c.codes[i] =
        static_cast<int>(std::lower_bound(all.begin(), all.end(), c.values[i]) - all.begin());
  c.values.clear();
  c.kind = ColumnKind::Text;
}

void check_spread(const Model& model, const Dataset& share) {
  // Each column's minimum and maximum over all the rows, as a 2-row matrix: its values are
  // all equal exactly when one process's check finds them so, with the same value.
  auto range = [&](const Matrix& m) {
    const Index c = m.cols();
    std::vector<double> mine(static_cast<size_t>(2 * c), -std::numeric_limits<double>::infinity());
    for (Index j = 0; j < c && m.rows() > 0; ++j) {
      mine[static_cast<size_t>(j)] = -m.col(j).minCoeff();
      mine[static_cast<size_t>(c + j)] = m.col(j).maxCoeff();
    }
    std::vector<double> all(mine.size());
    MPI_Allreduce(mine.data(), all.data(), to_int(2 * c, "the columns"), MPI_DOUBLE, MPI_MAX,
                  MPI_COMM_WORLD);
    Matrix out(2, c);
    for (Index j = 0; j < c; ++j) {
      out(0, j) = -all[static_cast<size_t>(j)];
      out(1, j) = all[static_cast<size_t>(c + j)];
    }
    return out;
  };
  const Matrix y = model.spec().data.categorical_response ? Matrix() : range(share.y);
  const Matrix z = range(share.z);
  agree([&] {
    if (y.size() > 0) check_response_spread(y, model.spec().data.response_names, share.source);
    model.check_gate_covariates(z, share.source);
  });
}

void check_supported(const Model& model, const Dataset& share) {
  auto refuse = [&](const std::string& what) {
    throw InputError(
        fmt::format("{} cannot be fitted across MPI processes yet (docs/scale-out.md "
                    "lists what can): run one process",
                    what));
  };
  // Laplace experts' M-step takes weighted medians (iteratively reweighted medians of the
  // residuals), which are not sums over the rows.
  if (model.experts().family() == "laplace")
    refuse(
        "--experts laplace (its M-step takes weighted medians, which are not sums over the "
        "rows)");
  // A group's rows may fall in two processes' shares, and its posterior needs all of them.
  if (share.grouped()) refuse("grouped data ('| " + share.group_column + "')");
}

BlockAlignedShare align_to_blocks(const Dataset& share) {
  const std::int64_t m = share.rows(), first = sum_below(m), n = sum_int(m);
  const std::int64_t end = first + m;
  const std::int64_t front = first % kBlockRows,
                     back = m == 0 ? 0
                                   : std::min<std::int64_t>(
                                         (end + kBlockRows - 1) / kBlockRows * kBlockRows, n) -
                                         end;
  BlockAlignedShare out;
  out.front = static_cast<Index>(front);
  if (m == 0 || share.grouped()) {
    out.data = share;
    out.front = 0;
    return out;
  }
  std::vector<Index> rows;
  rows.reserve(static_cast<size_t>(front + m + back));
  rows.insert(rows.end(), static_cast<size_t>(front), 0);
  for (Index i = 0; i < m; ++i) rows.push_back(i);
  rows.insert(rows.end(), static_cast<size_t>(back), static_cast<Index>(m - 1));
  const auto count = static_cast<Index>(rows.size());
  Dataset& d = out.data;
  d.source = share.source;
  d.group_column = share.group_column;
  d.x.resize(count, share.x.cols());
  d.y.resize(count, share.y.cols());
  d.z.resize(count, share.z.cols());
  if (share.weighted()) d.weights.resize(count);
  d.lines.resize(static_cast<size_t>(count));
  for (Index i = 0; i < count; ++i) {
    const Index r = rows[static_cast<size_t>(i)];
    d.x.row(i) = share.x.row(r);
    d.y.row(i) = share.y.row(r);
    d.z.row(i) = share.z.row(r);
    if (share.weighted()) d.weights(i) = share.weights(r);
    d.lines[static_cast<size_t>(i)] = share.line_of(r);
  }
  return out;
}

void write_in_rank_order(const std::string& text,
                         const std::function<void(std::string_view)>& write) {
  // One message carries at most INT_MAX bytes: longer texts go in pieces.
  constexpr std::int64_t kPiece = std::int64_t(1) << 30;
  std::exception_ptr error;
  auto write_safely = [&](std::string_view piece) {
    if (error) return;  // after a failed write: receive the rest, write nothing
    try {
      write(piece);
    } catch (...) {
      error = std::current_exception();
    }
  };
  if (rank() == 0) {
    write_safely(text);
    std::string piece;
    for (int r = 1; r < size(); ++r) {
      std::int64_t length = 0;
      MPI_Recv(&length, 1, MPI_INT64_T, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      for (std::int64_t at = 0; at < length; at += kPiece) {
        piece.resize(static_cast<size_t>(std::min(kPiece, length - at)));
        MPI_Recv(piece.data(), static_cast<int>(piece.size()), MPI_CHAR, r, 0, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        write_safely(piece);
      }
    }
  } else {
    const auto length = static_cast<std::int64_t>(text.size());
    MPI_Send(&length, 1, MPI_INT64_T, 0, 0, MPI_COMM_WORLD);
    for (std::int64_t at = 0; at < length; at += kPiece)
      MPI_Send(text.data() + at, static_cast<int>(std::min(kPiece, length - at)), MPI_CHAR, 0, 0,
               MPI_COMM_WORLD);
  }
  settle(error);
}

std::unique_ptr<EStepBackend> make_mpi_backend(const Dataset& share) {
  return std::make_unique<MpiBackend>(share);
}

}  // namespace moekit::mpi

#endif  // MOEKIT_HAS_MPI
