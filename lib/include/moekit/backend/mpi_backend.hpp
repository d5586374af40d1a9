#pragma once
// EM across processes (MPI, docs/scale-out.md). Every process holds a share of the rows and
// runs the E-step and the experts' moments on it with the CPU kernels; the log-likelihood
// and the moments are summed over the processes in rank order (so every process gets the
// same bits and takes the same decisions), and the M-step runs from the sums
// (GaussianRegression::fit_moments, Gate::fit_masses). The starts and re-seeding run on rows
// every process holds alike: all rows up to kCommonRows, a sample of them beyond.

#include "moekit/backend/estep_backend.hpp"
#include "moekit/data/csv.hpp"

#include <memory>
#include <string>

namespace moekit::mpi {

// Rows gathered on every process for the starts and re-seeding: all of them up to this
// many (then the starts are those of one process on the same data), else a random sample
// of about this many, chosen by global row number (the same for any number of processes).
inline constexpr Index kCommonRows = Index(1) << 20;

// The rows of this process: with one file, the header and the records that begin in this
// rank's 1/P of the bytes after it (shares split at line starts; a quoted field must not
// span lines); with several files (a comma-separated list, or a glob such as
// 'part-*.csv', taken in sorted order), the files of this rank: file f goes to rank
// f * P / F, so F >= P. Line numbers are those of the file. Collective; errors agree.
CsvTable read_csv_share(const std::string& path, const CsvOptions& options);

// InputError naming what is not covered when this backend cannot fit `model` across
// processes: Gaussian or linear (Gaussian-regression) experts under a constant gate, one
// level, ungrouped data.
void check_supported(const Model& model, const Dataset& share);

// Collective: sums the row counts, gathers the common rows.
std::unique_ptr<EStepBackend> make_mpi_backend(const Dataset& share);

}  // namespace moekit::mpi
