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
  if (!gaussian_mixture_estep(model, data, out, true) &&
      !linear_regression_estep(model, data, out, true))
    model.e_step(data, out);
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
