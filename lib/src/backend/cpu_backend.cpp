#include "moekit/backend/estep_backend.hpp"

#include "moekit/core/error.hpp"
#include "moekit/kernels/moments.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/model/gaussian_mixture_estep.hpp"
#include "moekit/model/regression_estep.hpp"

#include "moekit/config.hpp"
#if MOEKIT_HAS_CUDA
#include "cuda_backend.hpp"
#endif

#include <fmt/format.h>

namespace moekit {

void CpuBackend::estep(const Model& model, const Dataset& data, Posteriors& out) const {
  // A constant gate refits from the masses alone: then a Gaussian mixture's posteriors are
  // not written (fetch() computes them when the fit ends), which halves the iteration's
  // memory traffic. The row log-likelihoods are kept: re-seeding a collapsed component picks
  // the row worst explained by the parameters of this E-step, not the M-step's that follow
  // it. A gate that reads covariates fits from the rows (Jordan & Jacobs eq. 32).
  const bool rows = model.gates_read_covariates();
  if (!gaussian_mixture_estep(model, data, out, true, rows) &&
      !linear_regression_estep(model, data, out, true))
    model.e_step(data, out);
}

void CpuBackend::fetch(const Model& model, const Dataset& data, Posteriors& out) const {
  if (out.has_rows() || out.leaf_count == 0) return;
  // The same pass with the posteriors written, for the parameters that gave `out` (EmFitter
  // fetches after its last E-step): bitwise the sums estep() gave.
  if (!gaussian_mixture_estep(model, data, out, true, true)) model.e_step(data, out);
}

Vector CpuBackend::common_row_loglik(const Model& model,
                                     const Dataset& data,
                                     Posteriors& post) const {
  if (post.row_loglik.size() == data.rows()) return post.row_loglik;
  return EStepBackend::common_row_loglik(model, data, post);
}

std::unique_ptr<EStepBackend> make_backend(const BackendOptions& options,
                                           const Model& model,
                                           const Dataset& data,
                                           std::vector<std::string>& notes) {
  if (options.device == Device::Cpu) return std::make_unique<CpuBackend>();
  auto fallback = [&](const std::string& why) -> std::unique_ptr<EStepBackend> {
    notes.push_back(fmt::format("--device cuda: {}; the E-step ran on the CPU", why));
    return std::make_unique<CpuBackend>();
  };
#if MOEKIT_HAS_CUDA
  std::string why;
  kernels::FlatModelStorage pack;
  if (!model.export_flat_pack(pack, &why)) return fallback("the CUDA kernels do not cover " + why);
  const kernels::MomentLayout layout{pack.experts.K, pack.experts.p, pack.experts.q};
  if (layout.total() > kernels::kMomentMaxOwned * kernels::kMomentThreads)
    return fallback(
        fmt::format("the CUDA moments kernel takes at most {} statistics and this "
                    "model has {}",
                    kernels::kMomentMaxOwned * kernels::kMomentThreads, layout.total()));
  if (data.grouped()) return fallback("grouped data ('| g') are not covered by the CUDA kernels");
  if (data.weighted())
    return fallback("observation weights (--weights) are not covered by the CUDA kernels");
  if (!cuda_device_usable(&why)) return fallback(why);
  return make_cuda_backend(data, options.float32);
#else
  (void)model;
  (void)data;
  return fallback(
      "this build has no CUDA backend (reconfigure with -DMOEKIT_CUDA=ON where nvcc "
      "is installed)");
#endif
}

}  // namespace moekit
