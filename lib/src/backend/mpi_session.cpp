#include "moekit/backend/mpi_session.hpp"

#include "moekit/config.hpp"
#include "moekit/core/error.hpp"

#include <climits>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

#if MOEKIT_HAS_MPI
#include <mpi.h>
#endif

namespace moekit::mpi {

namespace {

bool g_agreed = false;
int g_rank = 0, g_size = 1;

#if MOEKIT_HAS_MPI
// What settle() sends: the kind of the error, so that every process throws the same type.
enum class Kind : int { Other = 0, Input = 1, ModelFormat = 2, Numerical = 3, OutOfMemory = 4 };

[[noreturn]] void throw_kind(Kind kind, const std::string& message) {
  g_agreed = true;
  switch (kind) {
    case Kind::Input:
      throw InputError(message);
    case Kind::ModelFormat:
      throw ModelFormatError(message);
    case Kind::Numerical:
      throw NumericalError(message);
    case Kind::OutOfMemory:
      throw std::bad_alloc();
    case Kind::Other:
      break;
  }
  throw std::runtime_error(message);
}
#endif

}  // namespace

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

int rank() { return g_rank; }
int size() { return g_size; }
bool error_was_agreed() { return g_agreed; }

#if MOEKIT_HAS_MPI

Session::Session(int& argc, char**& argv) {
  int provided = 0;
  // The thread pool's workers inside a process never call MPI: only the main thread does.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
}

Session::~Session() {
  MPI_Finalize();
  g_rank = 0;
  g_size = 1;
}

void settle(std::exception_ptr error) {
  if (g_size == 1) {
    if (error) std::rethrow_exception(error);
    return;
  }
  int mine = error ? g_rank : INT_MAX, first = INT_MAX;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == INT_MAX) return;
  int kind = static_cast<int>(Kind::Other);
  std::string message;
  if (g_rank == first) {
    try {
      std::rethrow_exception(error);
    } catch (const ModelFormatError& e) {
      kind = static_cast<int>(Kind::ModelFormat);
      message = e.what();
    } catch (const InputError& e) {
      kind = static_cast<int>(Kind::Input);
      message = e.what();
    } catch (const NumericalError& e) {
      kind = static_cast<int>(Kind::Numerical);
      message = e.what();
    } catch (const std::bad_alloc&) {
      kind = static_cast<int>(Kind::OutOfMemory);
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
      message = "unknown error";
    }
  }
  int length = static_cast<int>(message.size());
  MPI_Bcast(&kind, 1, MPI_INT, first, MPI_COMM_WORLD);
  MPI_Bcast(&length, 1, MPI_INT, first, MPI_COMM_WORLD);
  message.resize(static_cast<size_t>(length));
  MPI_Bcast(message.data(), length, MPI_CHAR, first, MPI_COMM_WORLD);
  throw_kind(static_cast<Kind>(kind), message);
}

void abort_all(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

#else

Session::Session(int&, char**&) {
  // Several copies of a build without MPI would each fit all the rows and write the same
  // files: refuse, rather than run P independent fits.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* s = std::getenv(v); s != nullptr && std::atoi(s) > 1)
      throw InputError(
          "this moekit was built without MPI (MOEKIT_MPI=OFF or no MPI found), so mpirun "
          "would start independent fits: reconfigure with -DMOEKIT_MPI=ON, or run one process");
}

Session::~Session() = default;

void settle(std::exception_ptr error) {
  if (error) std::rethrow_exception(error);
}

void abort_all(int code) { std::exit(code); }

#endif

void agree(const std::function<void()>& step) {
  std::exception_ptr error;
  try {
    step();
  } catch (...) {
    error = std::current_exception();
  }
  settle(error);
}

}  // namespace moekit::mpi
