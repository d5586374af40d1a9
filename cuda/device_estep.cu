#include "device_estep.hpp"

#include "moekit/core/error.hpp"
#include "moekit/kernels/moments.hpp"
#include "moekit/kernels/row_math.hpp"

#include <cuda_runtime.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

namespace moekit::cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear a sticky error before reporting it
    throw Error(std::string("CUDA: ") + what + " failed: " + cudaGetErrorString(e));
  }
}

// The E-step kernel: a block owns kEStepRowsPerBlock consecutive rows, each thread every
// kEStepThreads-th of them (consecutive threads, consecutive rows: coalesced columns).
constexpr int kEStepThreads = 256;
constexpr int kEStepRowsPerThread = 4;
constexpr long kEStepRowsPerBlock = kEStepThreads * kEStepRowsPerThread;
constexpr int kReduceThreads = 256;

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  void reserve(size_t count) {
    if (count <= size_) return;
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    size_ = 0;
    const cudaError_t e = cudaMalloc(&ptr_, count * sizeof(T));
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Error("CUDA: cannot allocate " + std::to_string(count * sizeof(T) >> 20) +
                  " MiB on the device: " + cudaGetErrorString(e));
    }
    size_ = count;
  }
  void upload(const T* host, size_t count) {
    reserve(count);
    check(cudaMemcpy(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  size_t size_ = 0;
};

// Sum of kEStepThreads partial values by a fixed tree: the same order on every launch.
__device__ inline double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  return shared[0];
}

template <int Q, typename Real>
__global__ void __launch_bounds__(kEStepThreads)
    flat_estep_kernel(kernels::FlatModelPack<Real> M,
                      const Real* __restrict__ x,
                      const Real* __restrict__ y,
                      const Real* __restrict__ z,
                      long n,
                      Real* __restrict__ post,
                      Real* __restrict__ row_loglik,
                      double* __restrict__ block_loglik,
                      unsigned long long* first_bad) {
  __shared__ double shared[kEStepThreads];
  const long base = static_cast<long>(blockIdx.x) * kEStepRowsPerBlock;
  const int K = M.experts.K;
  double sum = 0.0;
  for (int j = 0; j < kEStepRowsPerThread; ++j) {
    const long i = base + static_cast<long>(j) * kEStepThreads + threadIdx.x;
    if (i >= n) break;
    Real a[kernels::kMaxExperts];
    Real lse;
    kernels::flat_estep_rows<Q, 1>(M, x ? x + i : x, n, y + i, n, z ? z + i : z, n, a, &lse);
    for (int k = 0; k < K; ++k) post[i + static_cast<long>(k) * n] = a[k];
    row_loglik[i] = lse;
    if (kernels::finite_(lse))
      sum += static_cast<double>(lse);
    else
      atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
  const double total = block_sum(sum, shared);
  if (threadIdx.x == 0) block_loglik[blockIdx.x] = total;
}

// out[s] = sum over b < count of in[b * S + s], one block per s: thread t adds b = t,
// t + kReduceThreads, ... in order, then the fixed tree.
__global__ void __launch_bounds__(kReduceThreads)
    reduce_partials(const double* __restrict__ in, long count, int S, double* __restrict__ out) {
  __shared__ double shared[kReduceThreads];
  const int s = blockIdx.x;
  double sum = 0.0;
  for (long b = threadIdx.x; b < count; b += kReduceThreads) sum += in[b * S + s];
  const double total = block_sum(sum, shared);
  if (threadIdx.x == 0) out[s] = total;
}

// The moments of one block of kMomentBlockRows rows, tile by tile (kernels/moments.hpp,
// whose CPU emulation is stats/gaussian_moments.cpp).
template <typename Real>
__global__ void __launch_bounds__(kernels::kMomentThreads)
    moments_kernel(kernels::MomentLayout L,
                   kernels::GaussianRegressionPack<double> P,
                   const Real* __restrict__ x,
                   const Real* __restrict__ y,
                   const Real* __restrict__ post,
                   long n,
                   int tile,
                   double* __restrict__ partial) {
  extern __shared__ double shared[];
  double* raw = shared;
  double* F = raw + (L.p + L.q + L.K) * tile;
  double* WF = F + tile * L.K * L.m();
  double acc[kernels::kMomentMaxOwned];
  for (int j = 0; j < kernels::kMomentMaxOwned; ++j) acc[j] = 0.0;
  const int tid = threadIdx.x, T = blockDim.x;
  const long first = static_cast<long>(blockIdx.x) * kernels::kMomentBlockRows;
  const long end = first + kernels::kMomentBlockRows < n ? first + kernels::kMomentBlockRows : n;
  for (long begin = first; begin < end; begin += tile) {
    const int rows = static_cast<int>(end - begin < tile ? end - begin : tile);
    kernels::moments_load_raw(L, x, y, post, n, begin, rows, tid, T, raw);
    __syncthreads();
    kernels::moments_features(L, P, rows, tid, T, raw, F, WF);
    __syncthreads();
    kernels::moments_accumulate(L, rows, tid, T, F, WF, acc);
    __syncthreads();
  }
  int j = 0;
  for (int s = tid; s < L.total(); s += T, ++j)
    partial[static_cast<long>(blockIdx.x) * L.total() + s] = acc[j];
}

// The moments for m = M <= kMaxRegisterMoments (kernels::moments_add_row): warp w of a
// block takes the experts k = w, w + kRegisterWarps, ...; lane l the rows first + l,
// first + l + 32, ... of the block; the lanes' sums meet by a fixed xor-shuffle tree.
constexpr int kRegisterWarps = 8;

template <int M, typename Real>
__global__ void __launch_bounds__(kRegisterWarps * 32)
    moments_register_kernel(kernels::MomentLayout L,
                            kernels::GaussianRegressionPack<double> P,
                            const Real* __restrict__ x,
                            const Real* __restrict__ y,
                            const Real* __restrict__ post,
                            long n,
                            double* __restrict__ partial) {
  constexpr int S = M * (M + 1) / 2;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const long first = static_cast<long>(blockIdx.x) * kernels::kMomentBlockRows;
  const long end = first + kernels::kMomentBlockRows < n ? first + kernels::kMomentBlockRows : n;
  for (int k = warp; k < L.K; k += kRegisterWarps) {
    double acc[S];
#pragma unroll
    for (int s = 0; s < S; ++s) acc[s] = 0.0;
    for (long i = first + lane; i < end; i += 32)
      kernels::moments_add_row<M>(P, k, x ? x + i : x, n, y + i, n,
                                  static_cast<double>(post[i + static_cast<long>(k) * n]), acc);
#pragma unroll
    for (int s = 0; s < S; ++s) {
      double v = acc[s];
      for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
      if (lane == 0) partial[static_cast<long>(blockIdx.x) * L.total() + k * S + s] = v;
    }
  }
}

template <typename F>
void with_register_moments(int m, F&& f) {
  switch (m) {
    case 2:
      f(std::integral_constant<int, 2>{});
      break;
    case 3:
      f(std::integral_constant<int, 3>{});
      break;
    case 4:
      f(std::integral_constant<int, 4>{});
      break;
    case 5:
      f(std::integral_constant<int, 5>{});
      break;
    case 6:
      f(std::integral_constant<int, 6>{});
      break;
    case 7:
      f(std::integral_constant<int, 7>{});
      break;
    case 8:
      f(std::integral_constant<int, 8>{});
      break;
    case 9:
      f(std::integral_constant<int, 9>{});
      break;
    default:
      break;
  }
}

// The response dimensions with an unrolled kernel; others take the run-time loop.
template <typename F>
void with_kernel_response_dim(int q, F&& f) {
  switch (q) {
    case 1:
      f(std::integral_constant<int, 1>{});
      break;
    case 2:
      f(std::integral_constant<int, 2>{});
      break;
    case 3:
      f(std::integral_constant<int, 3>{});
      break;
    case 4:
      f(std::integral_constant<int, 4>{});
      break;
    case 8:
      f(std::integral_constant<int, 8>{});
      break;
    default:
      f(std::integral_constant<int, 0>{});
      break;
  }
}

template <typename Real>
struct Columns {
  DeviceBuffer<Real> x, y, z, post, row_loglik;
  DeviceBuffer<Real> pack;
  bool x_loaded = false, z_loaded = false;
};

template <typename Real>
void upload_column_major(DeviceBuffer<Real>& to, const double* from, size_t count) {
  if constexpr (std::is_same_v<Real, double>) {
    to.upload(from, count);
  } else {
    std::vector<Real> tmp(from, from + count);
    to.upload(tmp.data(), count);
  }
}

// Copies the pack's arrays into one device buffer and points a pack of Real at it.
template <typename Real>
kernels::FlatModelPack<Real> upload_pack(const kernels::FlatModelStorage& s,
                                         DeviceBuffer<Real>& buf) {
  std::vector<Real> host;
  auto append = [&](const std::vector<double>& v) {
    const size_t at = host.size();
    host.insert(host.end(), v.begin(), v.end());
    return at;
  };
  const size_t coef = append(s.experts.coef), chol = append(s.experts.chol),
               norm = append(s.experts.log_norm), inv = append(s.experts.inv_diag),
               gate = append(s.gate.values);
  host.push_back(Real(0));  // never empty
  buf.upload(host.data(), host.size());
  const Real* base = buf.get();
  kernels::FlatModelPack<Real> P;
  P.experts = {s.experts.K, s.experts.p, s.experts.q, base + coef,
               base + chol, base + norm, base + inv};
  P.gate = {s.gate.kind, s.gate.K, s.gate.r, base + gate};
  return P;
}

}  // namespace

bool device_usable(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    int driver = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    if (why)
      *why = driver == 0        ? std::string("no NVIDIA driver is installed (no usable GPU)")
             : e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e)
                                : std::string("no CUDA device found");
    cudaGetLastError();
    return false;
  }
  return true;
}

struct DeviceEStep::Impl {
  long n = 0;
  int p = 0, q = 0, r = 0, K = 0;
  const double *hx = nullptr, *hy = nullptr, *hz = nullptr;
  bool single = false;
  Columns<double> d;
  Columns<float> f;
  DeviceBuffer<double> block_loglik, loglik, moment_pack, moment_partial, moment_total;
  DeviceBuffer<unsigned long long> first_bad;
  // MOEKIT_CUDA_PROFILE set: the kernels' times (CUDA events), printed to stderr at the end.
  bool profile = std::getenv("MOEKIT_CUDA_PROFILE") != nullptr;
  cudaEvent_t events[4] = {};
  double estep_ms = 0.0, moments_ms = 0.0;
  long esteps = 0, moment_passes = 0;

  Impl() {
    if (profile)
      for (auto& e : events) cudaEventCreate(&e);
  }
  ~Impl() {
    if (!profile) return;
    std::fprintf(stderr,
                 "moekit CUDA profile: %ld E-steps, %.3f ms each (kernel and reduction); %ld "
                 "moment passes, %.3f ms each\n",
                 esteps, esteps ? estep_ms / esteps : 0.0, moment_passes,
                 moment_passes ? moments_ms / moment_passes : 0.0);
    for (auto& e : events) cudaEventDestroy(e);
  }
  void elapsed(int from, double& total, long& count) {
    float ms = 0.0f;
    cudaEventSynchronize(events[from + 1]);
    cudaEventElapsedTime(&ms, events[from], events[from + 1]);
    total += ms;
    ++count;
  }

  template <typename Real>
  Columns<Real>& columns() {
    if constexpr (std::is_same_v<Real, double>)
      return d;
    else
      return f;
  }

  template <typename Real>
  Summary estep(const kernels::FlatModelStorage& s) {
    Columns<Real>& c = columns<Real>();
    if (s.experts.p > 0 && !c.x_loaded) {
      upload_column_major(c.x, hx, static_cast<size_t>(n) * p);
      c.x_loaded = true;
    }
    if (s.gate.r > 0 && !c.z_loaded) {
      upload_column_major(c.z, hz, static_cast<size_t>(n) * r);
      c.z_loaded = true;
    }
    K = s.experts.K;
    const kernels::FlatModelPack<Real> P = upload_pack(s, c.pack);
    const long blocks = (n + kEStepRowsPerBlock - 1) / kEStepRowsPerBlock;
    c.post.reserve(static_cast<size_t>(n) * K);
    c.row_loglik.reserve(static_cast<size_t>(n));
    block_loglik.reserve(static_cast<size_t>(blocks));
    loglik.reserve(1);
    first_bad.reserve(1);
    const unsigned long long none = ULLONG_MAX;
    first_bad.upload(&none, 1);
    const Real* x = s.experts.p > 0 ? c.x.get() : nullptr;
    const Real* z = s.gate.r > 0 ? c.z.get() : nullptr;
    if (profile) cudaEventRecord(events[0]);
    with_kernel_response_dim(s.experts.q, [&](auto Q) {
      flat_estep_kernel<decltype(Q)::value, Real><<<static_cast<unsigned>(blocks), kEStepThreads>>>(
          P, x, c.y.get(), z, n, c.post.get(), c.row_loglik.get(), block_loglik.get(),
          first_bad.get());
    });
    check(cudaGetLastError(), "E-step kernel launch");
    reduce_partials<<<1, kReduceThreads>>>(block_loglik.get(), blocks, 1, loglik.get());
    check(cudaGetLastError(), "reduction launch");
    if (profile) {
      cudaEventRecord(events[1]);
      elapsed(0, estep_ms, esteps);
    }
    Summary out;
    unsigned long long bad = 0;
    check(cudaMemcpy(&out.loglik, loglik.get(), sizeof(double), cudaMemcpyDeviceToHost), "E-step");
    check(cudaMemcpy(&bad, first_bad.get(), sizeof(bad), cudaMemcpyDeviceToHost), "E-step");
    out.first_bad = bad == none ? -1 : static_cast<long>(bad);
    return out;
  }

  template <typename Real>
  void moments(const kernels::FlatModelStorage& s, double* out) {
    Columns<Real>& c = columns<Real>();
    const kernels::MomentLayout L{s.experts.K, s.experts.p, s.experts.q};
    if (L.total() > kernels::kMomentMaxOwned * kernels::kMomentThreads)
      throw Error("CUDA: the moments of this model do not fit one thread block");
    // The coefficients in double whatever the E-step's precision: the M-step's residuals.
    std::vector<double> coef = s.experts.coef;
    coef.push_back(0.0);
    moment_pack.upload(coef.data(), coef.size());
    kernels::GaussianRegressionPack<double> P{L.K,     L.p,     L.q,    moment_pack.get(),
                                              nullptr, nullptr, nullptr};
    const int tile = kernels::moment_tile_rows(L);
    const long blocks = (n + kernels::kMomentBlockRows - 1) / kernels::kMomentBlockRows;
    moment_partial.reserve(static_cast<size_t>(blocks) * L.total());
    moment_total.reserve(static_cast<size_t>(L.total()));
    const size_t shared =
        sizeof(double) * static_cast<size_t>((L.p + L.q + L.K) * tile + 2 * tile * L.K * L.m());
    const Real* x = L.p > 0 ? c.x.get() : nullptr;
    if (profile) cudaEventRecord(events[2]);
    if (L.m() <= kernels::kMaxRegisterMoments) {
      with_register_moments(L.m(), [&](auto M) {
        moments_register_kernel<decltype(M)::value, Real>
            <<<static_cast<unsigned>(blocks), kRegisterWarps * 32>>>(
                L, P, x, c.y.get(), c.post.get(), n, moment_partial.get());
      });
    } else {
      moments_kernel<Real><<<static_cast<unsigned>(blocks), kernels::kMomentThreads, shared>>>(
          L, P, x, c.y.get(), c.post.get(), n, tile, moment_partial.get());
    }
    check(cudaGetLastError(), "moments kernel launch");
    reduce_partials<<<static_cast<unsigned>(L.total()), kReduceThreads>>>(
        moment_partial.get(), blocks, L.total(), moment_total.get());
    check(cudaGetLastError(), "reduction launch");
    if (profile) {
      cudaEventRecord(events[3]);
      elapsed(2, moments_ms, moment_passes);
    }
    check(cudaMemcpy(out, moment_total.get(), sizeof(double) * L.total(), cudaMemcpyDeviceToHost),
          "moments");
  }

  template <typename Real>
  void fetch(double* posteriors, double* rows) {
    Columns<Real>& c = columns<Real>();
    auto copy = [&](double* to, const Real* from, size_t count) {
      if constexpr (std::is_same_v<Real, double>) {
        check(cudaMemcpy(to, from, count * sizeof(double), cudaMemcpyDeviceToHost), "fetch");
      } else {
        std::vector<Real> tmp(count);
        check(cudaMemcpy(tmp.data(), from, count * sizeof(Real), cudaMemcpyDeviceToHost), "fetch");
        for (size_t i = 0; i < count; ++i) to[i] = static_cast<double>(tmp[i]);
      }
    };
    if (posteriors) copy(posteriors, c.post.get(), static_cast<size_t>(n) * K);
    if (rows) copy(rows, c.row_loglik.get(), static_cast<size_t>(n));
  }
};

DeviceEStep::DeviceEStep(long n,
                         int p,
                         const double* x,
                         int q,
                         const double* y,
                         int r,
                         const double* z,
                         bool single_precision)
    : impl_(std::make_unique<Impl>()) {
  std::string why;
  if (!device_usable(&why)) throw Error("CUDA: " + why);
  Impl& m = *impl_;
  m.n = n;
  m.p = p;
  m.q = q;
  m.r = r;
  m.hx = x;
  m.hy = y;
  m.hz = z;
  m.single = single_precision;
  if (m.single)
    upload_column_major(m.f.y, y, static_cast<size_t>(n) * q);
  else
    upload_column_major(m.d.y, y, static_cast<size_t>(n) * q);
}

DeviceEStep::~DeviceEStep() = default;

DeviceEStep::Summary DeviceEStep::estep(const kernels::FlatModelStorage& pack) {
  return impl_->single ? impl_->estep<float>(pack) : impl_->estep<double>(pack);
}

void DeviceEStep::moments(const kernels::FlatModelStorage& pack, double* out) {
  if (impl_->single)
    impl_->moments<float>(pack, out);
  else
    impl_->moments<double>(pack, out);
}

void DeviceEStep::fetch(double* posteriors, double* row_loglik) {
  if (impl_->single)
    impl_->fetch<float>(posteriors, row_loglik);
  else
    impl_->fetch<double>(posteriors, row_loglik);
}

void DeviceEStep::synchronize() { check(cudaDeviceSynchronize(), "synchronize"); }

std::string DeviceEStep::device_name() const {
  int dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, dev) != cudaSuccess) return "CUDA device";
  return prop.name;
}

}  // namespace moekit::cuda
