// The GPU E-step benchmark of docs/performance.md: Gaussian mixture, n = 1e7, d = 8, K = 8,
// full covariances; seconds per EM iteration (E-step with the moments on the GPU, M-step on
// the host from K small matrices) in float64 and float32, against moekit's own CPU iteration
// on 2 threads, and the fraction of the memory bound reached (an iteration that reads X
// twice and writes the posteriors once, at the device-to-device copy rate measured here).
//   bench_gpu_gmm [n]      (prints "skipped" and why where no GPU is usable)

#include "moekit/backend/device.hpp"
#include "moekit/backend/estep_backend.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/model/model.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

using namespace moekit;

namespace {

using Clock = std::chrono::steady_clock;

struct Problem {
  Dataset data;
  Model start;
};

// Eight overlapping clusters with random covariances (bench_gmm's design), and a start near
// the truth: means moved by half a unit, unit covariances, equal weights.
Problem make_problem(Index n, Index d, Index K) {
  Rng rng(42);
  Matrix means(K, d);
  for (Index i = 0; i < means.size(); ++i) means.data()[i] = 1.5 * standard_normal(rng);
  std::vector<Matrix> L(static_cast<size_t>(K), Matrix::Zero(d, d));
  for (auto& l : L)
    for (Index c = 0; c < d; ++c)
      for (Index r = c; r < d; ++r)
        l(r, c) = r == c ? 0.5 + uniform01(rng) : 0.3 * standard_normal(rng);
  Problem p;
  p.data.y.resize(n, d);
  Vector z(d);
  for (Index i = 0; i < n; ++i) {
    const Index k = i % K;
    for (Index j = 0; j < d; ++j) z(j) = standard_normal(rng);
    p.data.y.row(i) = means.row(k) + (L[static_cast<size_t>(k)] * z).transpose();
  }
  p.data.x = Matrix::Ones(n, 1);
  p.data.z = Matrix::Ones(n, 1);
  p.data.source = "simulated";
  ModelSpec spec;
  spec.K = K;
  p.start = Model(spec, d, 1, 1);
  auto& g = dynamic_cast<GaussianExperts&>(p.start.experts());
  for (Index k = 0; k < K; ++k) {
    Vector mu = means.row(k).transpose();
    for (Index j = 0; j < d; ++j) mu(j) += 0.5 * standard_normal(rng);
    g.set_mean(k, mu);
  }
  return p;
}

struct Timing {
  int iterations = 0;  // EM iterations before the final E-step
  double seconds_per_iteration = 0.0;
  double loglik = 0.0;
  std::string backend;
};

Timing time_em(const Problem& p, const EStepBackend& backend, int warmup, int iterations) {
  Model m(p.start);
  Posteriors post;
  for (int i = 0; i < warmup; ++i) {
    backend.estep(m, p.data, post);
    m.m_step(p.data, post);
  }
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    backend.estep(m, p.data, post);
    m.m_step(p.data, post);
  }
  Timing t;
  t.iterations = warmup + iterations;
  t.seconds_per_iteration = std::chrono::duration<double>(Clock::now() - t0).count() / iterations;
  backend.estep(m, p.data, post);
  t.loglik = post.loglik;
  t.backend = backend.name();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  // The CUDA backend prints its kernels' times (E-step, moments) when it is destroyed.
  setenv("MOEKIT_CUDA_PROFILE", "1", 0);
  const Index n = argc > 1 ? static_cast<Index>(std::atof(argv[1])) : 10000000, d = 8, K = 8;
  const auto t0 = Clock::now();
  const Problem p = make_problem(n, d, K);
  fmt::print("data: n = {}, d = {}, K = {}, full covariances ({:.1f} s to simulate)\n", n, d, K,
             std::chrono::duration<double>(Clock::now() - t0).count());
  std::vector<std::string> notes;
  auto gpu64 = make_backend({Device::Cuda, false}, p.start, p.data, notes);
  if (!notes.empty()) {
    fmt::print("skipped: {}\n", notes.front());
    return 0;
  }
  const double bandwidth = measure_gpu_copy_bandwidth();  // GB/s
  fmt::print("float64 backend: ");
  std::fflush(stdout);
  Timing g64, g32;
  {
    const auto gpu = std::move(gpu64);
    g64 = time_em(p, *gpu, 2, 10);
  }
  fmt::print("float32 backend: ");
  std::fflush(stdout);
  {
    const auto gpu32 = make_backend({Device::Cuda, true}, p.start, p.data, notes);
    g32 = time_em(p, *gpu32, 2, 10);
  }
  set_num_threads(2);
  const CpuBackend cpu;
  const Timing c2 = time_em(p, cpu, 1, 2);

  // The bound: read X twice, write the posteriors once.
  const double bytes_bound = 8.0 * static_cast<double>(n) * static_cast<double>(2 * d + K);
  // What this implementation moves: the E-step reads y and writes the posteriors and row
  // log-likelihoods; the moments kernel reads y and the posteriors again.
  const double bytes_moved = 8.0 * static_cast<double>(n) * static_cast<double>(2 * d + 2 * K + 1);
  const double t_bound = bytes_bound / (bandwidth * 1e9);
  fmt::print("device-to-device copy: {:.0f} GB/s (read + write)\n", bandwidth);
  fmt::print(
      "memory bound of an iteration (X read twice, posteriors written once, {:.2f} GB): "
      "{:.3f} ms\n",
      bytes_bound / 1e9, t_bound * 1e3);
  fmt::print(
      "| backend | ms / EM iteration | fraction of the bound | CPU (2 threads) / this | "
      "EM iterations | log-likelihood after them |\n|---|---|---|---|---|---|\n");
  for (const Timing* t : std::initializer_list<const Timing*>{&g64, &g32, &c2})
    fmt::print("| {} | {:.3f} | {:.2f} | {:.0f}x | {} | {:.10g} |\n", t->backend,
               t->seconds_per_iteration * 1e3, t_bound / t->seconds_per_iteration,
               c2.seconds_per_iteration / t->seconds_per_iteration, t->iterations, t->loglik);
  fmt::print("float64 iteration moves {:.2f} GB: {:.0f} GB/s effective\n", bytes_moved / 1e9,
             bytes_moved / g64.seconds_per_iteration / 1e9);
  return 0;
}
