#pragma once
// The MPI runtime for `mpirun -n P moekit fit` (docs/scale-out.md). moekit starts MPI only
// when a launcher started it, so that a plain run needs no MPI runtime; builds without MPI
// (MOEKIT_HAS_MPI = 0) see one process.

#include <exception>
#include <functional>

namespace moekit::mpi {

// True when mpirun/mpiexec (OpenMPI, MPICH, a PMI or PMIx launcher) started this process.
bool launched_by_mpirun();

// MPI_Init_thread .. MPI_Finalize for the life of main().
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// This process's rank and the number of processes: 0 and 1 without a Session.
int rank();
int size();

// Every process calls this with the error it met (null when none). When any process met
// one, every process throws the error of the lowest such rank (its kind: InputError,
// ModelFormatError, NumericalError, out of memory or another error, and its message), so
// that none waits in a collective for a process that stopped.
void settle(std::exception_ptr error);
// settle() around `step`.
void agree(const std::function<void()>& step);
// True once settle() has thrown: every process stops with the same error, and only rank 0
// needs to print it.
bool error_was_agreed();

// Ends every process with `code` (an error that only this process met, outside settle()).
[[noreturn]] void abort_all(int code);

}  // namespace moekit::mpi
