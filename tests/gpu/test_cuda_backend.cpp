// The CUDA backend against the CPU: the same log-likelihood (1e-10 relative in float64) and
// moments, the same posteriors, and EM to the same optimum, on faithful, tonedata, NOdata and
// a simulated mixture of 1e6 rows. Without a usable GPU (or a build without CUDA) every case
// says that it was skipped and why, and passes: scripts/gpu-check.sh runs them on a GPU.

#include "kernels/kernel_support.hpp"

#include "moekit/stats/gaussian_moments.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>

using namespace moekit;
using namespace moekit::testing;

namespace {

// The CUDA backend for this model and data, or null after saying why the case is skipped.
std::unique_ptr<EStepBackend> cuda_backend(const Model& m, const Dataset& d, bool float32 = false) {
  std::vector<std::string> notes;
  auto b = make_backend({Device::Cuda, float32}, m, d, notes);
  if (!notes.empty()) {
    std::printf("GPU test skipped: %s\n", notes.front().c_str());
    WARN("GPU test skipped: " << notes.front());
    return nullptr;
  }
  return b;
}

std::vector<Fitted> problems() {
  std::vector<Fitted> out;
  out.push_back(fitted("faithful K = 2 full", "faithful.csv", "", "gaussian", "constant", 2));
  out.push_back(fitted("faithful K = 3 diag", "faithful.csv", "", "gaussian", "constant", 3,
                       CovarianceStructure::Diag));
  out.push_back(
      fitted("tonedata", "tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2));
  out.push_back(fitted("NOdata", "NOdata.csv", "Equivalence ~ NO", "linear", "constant", 2));
  out.push_back(fitted("NOdata softmax", "NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2));
  out.push_back(simulated_gmm(1000000, 4, 3));
  return out;
}

}  // namespace

TEST_CASE("GPU E-step: log-likelihood, moments and posteriors of the CPU", "[gpu]") {
  for (const Fitted& f : problems()) {
    CAPTURE(f.name);
    auto gpu = cuda_backend(f.model, f.data);
    if (!gpu) return;
    Posteriors cpu, dev;
    f.model.e_step(f.data, cpu);
    gpu->estep(f.model, f.data, dev);
    std::printf("%-32s n = %8ld  loglik cpu %.15g  gpu %.15g  rel diff %.2e\n", f.name.c_str(),
                static_cast<long>(f.data.rows()), cpu.loglik, dev.loglik,
                std::abs(dev.loglik - cpu.loglik) / std::abs(cpu.loglik));
    CHECK(std::abs(dev.loglik - cpu.loglik) <= 1e-10 * std::abs(cpu.loglik));
    REQUIRE(dev.moments);
    kernels::GaussianRegressionStorage s;
    f.model.experts().gaussian_regression()->export_pack(s);
    const GaussianMoments ref = tiled_gaussian_moments(s.view(), f.data.x, f.data.y, cpu.leaves());
    for (Index k = 0; k < ref.components(); ++k)
      CHECK(max_rel_diff(dev.moments->M[static_cast<size_t>(k)], ref.M[static_cast<size_t>(k)]) <=
            1e-10);
    gpu->fetch(f.model, f.data, dev);
    REQUIRE(dev.has_rows());
    CHECK((dev.leaves() - cpu.leaves()).cwiseAbs().maxCoeff() <= 1e-12);
    CHECK((dev.row_loglik - cpu.row_loglik).cwiseAbs().maxCoeff() <= 1e-10);
  }
}

TEST_CASE("GPU EM reaches the CPU's optimum", "[gpu]") {
  for (Fitted& f : problems()) {
    CAPTURE(f.name);
    if (!cuda_backend(f.model, f.data)) return;
    FitOptions o;
    o.restarts = f.data.rows() > 100000 ? 1 : 3;
    o.seed = 5;
    Model cpu(f.model), gpu(f.model);
    const bool refine = f.data.rows() > 100000;  // the simulated model starts at the truth
    const FitResult a = refine ? EmFitter(o).refine(cpu, f.data) : EmFitter(o).fit(cpu, f.data);
    o.device = Device::Cuda;
    const FitResult b = refine ? EmFitter(o).refine(gpu, f.data) : EmFitter(o).fit(gpu, f.data);
    std::printf("%-32s EM cpu %.12g (%d it)  gpu %.12g (%d it) on %s\n", f.name.c_str(), a.loglik,
                a.iterations, b.loglik, b.iterations, b.backend.c_str());
    CHECK(b.backend.rfind("cuda", 0) == 0);
    CHECK(b.loglik == Approx(a.loglik).epsilon(1e-7));
    const Vector pa = cpu.parameters(), pb = gpu.parameters();
    CHECK((pa - pb).cwiseAbs().maxCoeff() <= 1e-4 * std::max(1.0, pa.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("GPU float32 E-step: close to float64, EM to the same optimum", "[gpu]") {
  Fitted f = simulated_gmm(1000000, 4, 3);
  auto gpu = cuda_backend(f.model, f.data, true);
  if (!gpu) return;
  Posteriors cpu, dev;
  f.model.e_step(f.data, cpu);
  gpu->estep(f.model, f.data, dev);
  std::printf("float32 E-step: loglik cpu %.12g gpu %.12g rel diff %.2e\n", cpu.loglik, dev.loglik,
              std::abs(dev.loglik - cpu.loglik) / std::abs(cpu.loglik));
  CHECK(std::abs(dev.loglik - cpu.loglik) <= 1e-5 * std::abs(cpu.loglik));
  FitOptions o;
  Model a(f.model), b(f.model);
  const FitResult ra = EmFitter(o).refine(a, f.data);
  o.device = Device::Cuda;
  o.float32 = true;
  const FitResult rb = EmFitter(o).refine(b, f.data);
  CHECK(rb.backend.find("float32") != std::string::npos);
  // rb's loglik is the float32 E-step's: compare the optimum by the CPU's E-step at it.
  Posteriors at;
  b.e_step(f.data, at);
  CHECK(at.loglik == Approx(ra.loglik).epsilon(1e-7));
}
