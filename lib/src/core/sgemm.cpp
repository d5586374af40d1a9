#include "moekit/core/sgemm.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace moekit {

namespace {

void check_shapes(const SgemmOperand& a, const SgemmOperand& b, Index c_rows, Index c_cols) {
  if (a.cols != b.rows || c_rows != a.rows || c_cols != b.cols)
    throw InputError::option(
        "sgemm",
        fmt::format("{}x{} times {}x{} into {}x{}", a.rows, a.cols, b.rows, b.cols, c_rows, c_cols),
        "needs conforming shapes");
}

#if defined(__AVX512F__)

// Goto & van de Geijn (2008), "Anatomy of high-performance matrix multiplication", with the
// BLIS loop order (Van Zee & van de Geijn 2015): B is packed in KC x NC blocks (L3), A in
// MC x KC blocks (L2), and the micro-kernel keeps a KC x NR sliver of B in L1 while it streams
// MR x KC slivers of A. The register tile is MR = 32 rows (two zmm) by NR = 12 columns: 24
// accumulators, two A loads and 12 broadcasts per 24 FMAs, inside the two load ports' budget.
constexpr Index kMr = 32;
constexpr Index kNr = 12;
constexpr Index kKcMax = 512;  // kKcMax x kNr floats (24 KiB) stay in a 48 KiB L1
constexpr Index kMcMax = 256;  // kMcMax x kKcMax floats (512 KiB) stay in a 1 MiB L2
constexpr Index kNcMax = 2048;

// c(0:32, 0:12) = (kAdd ? c : 0) + sum_p a[p * 32 + i] b[p * 12 + j].
template <bool kAdd>
inline void micro_kernel(Index kc, const float* a, const float* b, float* c, Index ldc) {
  __m512 acc[2][kNr];
  for (Index j = 0; j < kNr; ++j) acc[0][j] = acc[1][j] = _mm512_setzero_ps();
  for (Index p = 0; p < kc; ++p) {
    const __m512 a0 = _mm512_loadu_ps(a);
    const __m512 a1 = _mm512_loadu_ps(a + 16);
#pragma GCC unroll 12
    for (Index j = 0; j < kNr; ++j) {
      const __m512 bj = _mm512_set1_ps(b[j]);
      acc[0][j] = _mm512_fmadd_ps(a0, bj, acc[0][j]);
      acc[1][j] = _mm512_fmadd_ps(a1, bj, acc[1][j]);
    }
    a += kMr;
    b += kNr;
  }
#pragma GCC unroll 12
  for (Index j = 0; j < kNr; ++j) {
    float* cj = c + j * ldc;
    if (kAdd) {
      _mm512_storeu_ps(cj, _mm512_add_ps(_mm512_loadu_ps(cj), acc[0][j]));
      _mm512_storeu_ps(cj + 16, _mm512_add_ps(_mm512_loadu_ps(cj + 16), acc[1][j]));
    } else {
      _mm512_storeu_ps(cj, acc[0][j]);
      _mm512_storeu_ps(cj + 16, acc[1][j]);
    }
  }
}

// Packs `extent` lines (rows of A, columns of B) of a kc-long panel into slivers of W lines,
// p-major within a sliver (out[p * W + line]), the last sliver padded with zeros. Line l,
// position p of the panel is src[l * along + p * step]. Reads run along the unit stride: a
// line at a time when the lines are contiguous, else 16 consecutive p of each line (a cache
// line) at a time, so that the sliver's 16 x W destination stays in L1 while it is gathered.
template <Index W>
void pack_slivers(const float* src, Index along, Index step, Index extent, Index kc, float* out) {
  for (Index l0 = 0; l0 < extent; l0 += W, out += W * kc) {
    const Index w = std::min(W, extent - l0);
    const float* base = src + l0 * along;
    if (along == 1) {
      for (Index p = 0; p < kc; ++p) {
        std::memcpy(out + p * W, base + p * step, static_cast<std::size_t>(w) * sizeof(float));
        std::fill(out + p * W + w, out + (p + 1) * W, 0.0f);
      }
      continue;
    }
    for (Index p0 = 0; p0 < kc; p0 += 16) {
      const Index pn = std::min<Index>(16, kc - p0);
      for (Index l = 0; l < w; ++l)
        for (Index p = p0; p < p0 + pn; ++p) out[p * W + l] = base[l * along + p * step];
      for (Index l = w; l < W; ++l)
        for (Index p = p0; p < p0 + pn; ++p) out[p * W + l] = 0.0f;
    }
  }
}

// Equal blocks of at most `most`, each a multiple of `unit` (the last one shorter).
Index block_size(Index extent, Index most, Index unit) {
  const Index blocks = (extent + most - 1) / most;
  const Index even = (extent + blocks - 1) / blocks;
  return (even + unit - 1) / unit * unit;
}

void packed_sgemm(
    const SgemmOperand& a, const SgemmOperand& b, float* c, Index ldc, bool accumulate) {
  const Index m = a.rows, n = b.cols, k = a.cols;
  // Grown once per thread, then reused: no allocation in a training loop.
  static thread_local std::vector<float> packed_a, packed_b;
  const Index kc_size = block_size(k, kKcMax, 1);
  const Index mc_size = block_size(m, kMcMax, kMr);
  const Index nc_size = block_size(n, kNcMax, kNr);
  packed_a.resize(static_cast<std::size_t>(mc_size * kc_size));
  packed_b.resize(static_cast<std::size_t>(nc_size * kc_size));
  alignas(64) float tile[kMr * kNr];
  for (Index jc = 0; jc < n; jc += nc_size) {
    const Index nc = std::min(nc_size, n - jc);
    for (Index pc = 0; pc < k; pc += kc_size) {
      const Index kc = std::min(kc_size, k - pc);
      const bool add = accumulate || pc > 0;
      pack_slivers<kNr>(b.data + pc * b.row_stride + jc * b.col_stride, b.col_stride, b.row_stride,
                        nc, kc, packed_b.data());
      for (Index ic = 0; ic < m; ic += mc_size) {
        const Index mc = std::min(mc_size, m - ic);
        pack_slivers<kMr>(a.data + ic * a.row_stride + pc * a.col_stride, a.row_stride,
                          a.col_stride, mc, kc, packed_a.data());
        for (Index jr = 0; jr < nc; jr += kNr) {
          const Index nr = std::min(kNr, nc - jr);
          const float* bp = packed_b.data() + jr * kc;
          for (Index ir = 0; ir < mc; ir += kMr) {
            const Index mr = std::min(kMr, mc - ir);
            const float* ap = packed_a.data() + ir * kc;
            float* cp = c + (ic + ir) + (jc + jr) * ldc;
            if (mr == kMr && nr == kNr) {
              if (add)
                micro_kernel<true>(kc, ap, bp, cp, ldc);
              else
                micro_kernel<false>(kc, ap, bp, cp, ldc);
              continue;
            }
            micro_kernel<false>(kc, ap, bp, tile, kMr);
            for (Index j = 0; j < nr; ++j)
              for (Index i = 0; i < mr; ++i)
                cp[i + j * ldc] = (add ? cp[i + j * ldc] : 0.0f) + tile[i + j * kMr];
          }
        }
      }
    }
  }
}

#else

using StridedMap =
    Eigen::Map<const Eigen::MatrixXf, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic> >;

// Eigen's product on the operands as they lie: a transposed view of a column-major block
// keeps Eigen's own packing on its fast path.
template <typename A, typename B>
void eigen_product(const A& a, const B& b, Eigen::Ref<Eigen::MatrixXf>& c, bool accumulate) {
  if (accumulate)
    c.noalias() += a * b;
  else
    c.noalias() = a * b;
}

template <typename A>
void eigen_with_b(const A& a, const SgemmOperand& b, Eigen::Ref<Eigen::MatrixXf>& c, bool add) {
  using Outer = Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<> >;
  if (b.row_stride == 1)
    eigen_product(a, Outer(b.data, b.rows, b.cols, Eigen::OuterStride<>(b.col_stride)), c, add);
  else if (b.col_stride == 1)
    eigen_product(a, Outer(b.data, b.cols, b.rows, Eigen::OuterStride<>(b.row_stride)).transpose(),
                  c, add);
  else
    eigen_product(
        a, StridedMap(b.data, b.rows, b.cols, Eigen::Stride<-1, -1>(b.col_stride, b.row_stride)), c,
        add);
}

#endif

}  // namespace

bool sgemm_uses_own_kernel() {
#if defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

void sgemm(const SgemmOperand& a,
           const SgemmOperand& b,
           Eigen::Ref<Eigen::MatrixXf> c,
           bool accumulate) {
  check_shapes(a, b, c.rows(), c.cols());
  if (c.size() == 0) return;
  if (a.cols == 0) {
    if (!accumulate) c.setZero();
    return;
  }
#if defined(__AVX512F__)
  packed_sgemm(a, b, c.data(), c.outerStride(), accumulate);
#else
  using Outer = Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<> >;
  if (a.row_stride == 1)
    eigen_with_b(Outer(a.data, a.rows, a.cols, Eigen::OuterStride<>(a.col_stride)), b, c,
                 accumulate);
  else if (a.col_stride == 1)
    eigen_with_b(Outer(a.data, a.cols, a.rows, Eigen::OuterStride<>(a.row_stride)).transpose(), b,
                 c, accumulate);
  else
    eigen_with_b(
        StridedMap(a.data, a.rows, a.cols, Eigen::Stride<-1, -1>(a.col_stride, a.row_stride)), b, c,
        accumulate);
#endif
}

}  // namespace moekit
