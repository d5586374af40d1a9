#pragma once
// EM across processes (MPI, docs/scale-out.md). Every process holds a share of the rows and
// runs the E-step and the experts' moments on it with the CPU kernels; the log-likelihood
// and the moments are summed over the processes in rank order (so every process gets the
// same bits and takes the same decisions), and the M-step runs from the sums
// (GaussianRegression::fit_moments, Gate::fit_masses). Other experts and gates are fitted
// from each process's rows, every sum of their M-steps (each Newton step's gradient and
// Hessian, each trial point's objective) summed over the processes (Posteriors::shares,
// core/process_sums.hpp). The starts and re-seeding run on rows every process holds alike:
// all rows up to kCommonRows, a sample of them beyond.

#include "moekit/backend/estep_backend.hpp"
#include "moekit/data/csv.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace moekit::mpi {

// Rows gathered on every process for the starts and re-seeding: all of them up to this
// many (then the starts are those of one process on the same data), else a random sample
// of about this many, chosen by global row number (the same for any number of processes).
inline constexpr Index kCommonRows = Index(1) << 20;

// The rows of this process: with one file, the header and the records that begin in this
// rank's 1/P of the bytes after it (shares split at line starts; a quoted field must not
// span lines); with several files (a comma-separated list, or a glob such as
// 'part-*.csv', taken in sorted order), the files of this rank: file f goes to rank
// f * P / F, so F >= P. Line numbers are those of the file. The columns' kinds, text levels
// and first cell problems are those one process reading all the rows gives (agreed among
// the processes). Collective; errors agree.
CsvTable read_csv_share(const std::string& path, const CsvOptions& options);

// Numeric class labels (logistic experts, a numeric response column): one process's levels
// are the distinct values of all the rows in numeric order, which a share may lack; the
// processes agree on them and the column becomes text with those levels and codes. Collective;
// errors agree (a label that is not a whole number names its line, as make_dataset does).
void agree_class_labels(CsvTable& table, const DataSpec& spec);

// The zero-variance checks of one process (a constant response column, make_dataset; a
// Gaussian gate's constant covariate, Model::check_data) over all the processes' rows: a
// column constant within one share (sorted data) but not across them passes, and a column
// constant across them gets one process's message on every process. Collective; errors
// agree. The shares were built with make_dataset(..., false) and check_data(..., false).
void check_spread(const Model& model, const Dataset& share);
// InputError naming what is not covered when this backend cannot fit `model` across
// processes: Laplace experts (weighted medians) and grouped data.
void check_supported(const Model& model, const Dataset& share);

// A share's rows padded so that its blocks of kBlockRows rows (core/parallel.hpp) fall where
// one process's blocks fall on all the rows: `front` copies of its first row before them, and
// after them copies of its last row up to the end of that row's block in all the rows.
// Vectorised kernels treat a row by its place in its block (a packet or the scalar tail), so
// per-row results (predict) then have the bits one process gives them. Ungrouped data.
// Collective.
struct BlockAlignedShare {
  Dataset data;
  Index front = 0;  // the share's rows are data's rows [front, front + share.rows())
};
BlockAlignedShare align_to_blocks(const Dataset& share);

// Collective: rank 0 passes its `text`, then every other rank's in rank order, to `write`
// (one piece at a time: rank 0 never holds more than its own text and one other rank's);
// the other ranks' `write` is not called. An error from `write` stops every process alike,
// once every text has been sent.
void write_in_rank_order(const std::string& text,
                         const std::function<void(std::string_view)>& write);

// Collective: sums the row counts, gathers the common rows.
std::unique_ptr<EStepBackend> make_mpi_backend(const Dataset& share);

}  // namespace moekit::mpi
