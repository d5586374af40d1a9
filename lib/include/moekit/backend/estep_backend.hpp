#pragma once
// Where the E-step runs. The CPU backend is the model's own E-step (fixed row blocks,
// reduced in block order, so results do not depend on the number of threads), with the
// experts' moments for a Gaussian mixture. The CUDA
// backend keeps the data and the posteriors on the GPU: its E-step returns the
// log-likelihood, the leaf masses and the experts' moments, and fetch() brings the rows
// back when a caller needs them (re-seeding, the final classification, a softmax gate's
// M-step). Both run the per-row kernels of moekit/kernels/.

#include "moekit/backend/device.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"
#include "moekit/model/posteriors.hpp"

#include <memory>
#include <string>
#include <vector>

namespace moekit {

class EStepBackend {
 public:
  virtual ~EStepBackend() = default;
  virtual std::string name() const = 0;
  // Fills the posteriors of every node and the log-likelihoods. Throws NumericalError when
  // a row has zero density under every expert or a non-finite value appears.
  virtual void estep(const Model& model, const Dataset& data, Posteriors& out) const = 0;
  // Fills out.nodes and out.row_loglik when estep() left them on the device.
  virtual void fetch(const Model& /*model*/, const Dataset& /*data*/, Posteriors& /*out*/) const {}

  // The few steps of EM that look at rows beyond the E-step's sums (the starts, re-seeding,
  // the responses' spread, the criteria) go through these, so that a backend whose process
  // holds only a share of the rows (MPI: backend/mpi_backend.hpp) runs the same fitter.
  // Rows that every process holds alike: `data` itself for one process.
  virtual const Dataset& common_rows(const Dataset& data) const { return data; }
  // Rows in all processes together.
  virtual Index total_rows(const Dataset& data) const { return data.rows(); }
  // Replaces each value by its sum over the processes (the same on every process).
  virtual void sum_over_processes(double* /*values*/, Index /*count*/) const {}
  // The log-likelihood of each row of common_rows(data) under the parameters of the
  // E-step that gave `post` (empty when that E-step left none): re-seeding picks the rows
  // explained worst.
  virtual Vector common_row_loglik(const Model& model,
                                   const Dataset& data,
                                   Posteriors& post) const {
    if (!post.has_rows() && post.leaf_count > 0) fetch(model, data, post);
    return post.row_loglik;
  }
};

class CpuBackend final : public EStepBackend {
 public:
  std::string name() const override { return "cpu"; }
  // Model::e_step; a Gaussian mixture's and a flat mixture of linear experts' also gather the
  // experts' moments in the same pass (model/gaussian_mixture_estep.hpp,
  // model/regression_estep.hpp), and the M-step reads those instead of the rows.
  void estep(const Model& model, const Dataset& data, Posteriors& out) const override;
  // A Gaussian mixture with a constant gate leaves the posteriors out of estep() (their
  // M-step reads the moments and the masses): fetch() computes them for the same parameters.
  void fetch(const Model& model, const Dataset& data, Posteriors& out) const override;
  Vector common_row_loglik(const Model& model,
                           const Dataset& data,
                           Posteriors& post) const override;
};

struct BackendOptions {
  Device device = Device::Cpu;
  bool float32 = false;  // CUDA: data, E-step and posteriors in float32, moments in double
};

// The only factory. Device::Cuda gives the CUDA backend where this build has it, a GPU is
// usable and the model is one its kernels cover (a flat tree of Gaussian or linear experts
// under a constant or softmax gate, ungrouped data); otherwise the CPU backend, with the
// reason appended to `notes` (a warning for the fit's report).
std::unique_ptr<EStepBackend> make_backend(const BackendOptions& options,
                                           const Model& model,
                                           const Dataset& data,
                                           std::vector<std::string>& notes);

}  // namespace moekit
