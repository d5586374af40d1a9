#include "moekit/config.hpp"

#if MOEKIT_HAS_CUDA

#include "cuda_backend.hpp"

#include "device_estep.hpp"
#include "moekit/core/error.hpp"
#include "moekit/stats/gaussian_moments.hpp"

#include <fmt/format.h>

#include <memory>

namespace moekit {

namespace {

class CudaBackend final : public EStepBackend {
 public:
  CudaBackend(const Dataset& data, bool float32)
      : device_(std::make_unique<cuda::DeviceEStep>(static_cast<long>(data.rows()),
                                                    static_cast<int>(data.x.cols()),
                                                    data.x.data(),
                                                    static_cast<int>(data.y.cols()),
                                                    data.y.data(),
                                                    static_cast<int>(data.z.cols()),
                                                    data.z.data(),
                                                    float32)),
        response_variance_(response_variance(data.y)),
        float32_(float32) {}

  std::string name() const override {
    return fmt::format("cuda ({}, {})", device_->device_name(), float32_ ? "float32" : "float64");
  }

  void estep(const Model& model, const Dataset& data, Posteriors& out) const override {
    kernels::FlatModelStorage pack;
    std::string why;
    if (!model.export_flat_pack(pack, &why))
      throw Error("CudaBackend: the CUDA kernels do not cover " + why);
    const cuda::DeviceEStep::Summary s = device_->estep(pack);
    if (s.first_bad >= 0)
      throw NumericalError(
          fmt::format("E-step: the row on line {} has zero or non-finite density under every "
                      "component (log-likelihood not finite)",
                      data.line_of(static_cast<Index>(s.first_bad))));
    const Index K = model.components();
    out.leaf_count = K;
    out.loglik = out.objective = s.loglik;
    out.nodes.resize(0, K);
    out.row_loglik.resize(0);
    const kernels::MomentLayout layout{pack.experts.K, pack.experts.p, pack.experts.q};
    std::vector<double> packed(static_cast<size_t>(layout.total()));
    device_->moments(pack, packed.data());
    out.moments = GaussianMoments::unpack(layout, packed.data(), response_variance_);
    out.leaf_masses = out.moments->masses();
    // A gate that reads covariates fits from the rows (weighted multinomial, Jordan & Jacobs
    // eq. 32): those come back every iteration; a constant gate needs the masses only.
    if (model.gates_read_covariates()) fetch(model, data, out);
  }

  void fetch(const Model& model, const Dataset& data, Posteriors& out) const override {
    if (out.has_rows()) return;
    out.nodes.resize(data.rows(), model.components());
    out.row_loglik.resize(data.rows());
    device_->fetch(out.nodes.data(), out.row_loglik.data());
  }

 private:
  std::unique_ptr<cuda::DeviceEStep> device_;
  Vector response_variance_;
  bool float32_;
};

}  // namespace

bool cuda_device_usable(std::string* why) { return cuda::device_usable(why); }

std::unique_ptr<EStepBackend> make_cuda_backend(const Dataset& data, bool float32) {
  return std::make_unique<CudaBackend>(data, float32);
}

}  // namespace moekit

#endif  // MOEKIT_HAS_CUDA
