#include "moekit/stats/weighted_lad.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"

#include <fmt/format.h>

#include <Eigen/LU>
#include <Eigen/QR>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>

namespace moekit {

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// A breakpoint of f along a line b + t d: row `row` has residual 0 at t, and the slope of f
// jumps there by 2 * weight.
struct Breakpoint {
  double t;
  double weight;
  Index row;
};

bool before(const Breakpoint& a, const Breakpoint& b) {
  return a.t < b.t || (a.t == b.t && a.row < b.row);
}

// The first breakpoint of c[lo, hi) in (t, row) order at which the running weight reaches
// `target`, by selection (nth_element on halving ranges): O(hi - lo) expected.
Breakpoint select_reaching(std::vector<Breakpoint>& c, size_t lo, size_t hi, double target) {
  const auto at = [&](size_t i) { return c.begin() + static_cast<std::ptrdiff_t>(i); };
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(at(lo), at(mid), at(hi), before);
    double left = 0.0;
    for (size_t i = lo; i < mid; ++i) left += c[i].weight;
    if (left >= target) {
      hi = mid;
    } else if (left + c[mid].weight >= target) {
      return c[mid];
    } else {
      target -= left + c[mid].weight;
      lo = mid + 1;
    }
  }
  return c[lo < hi ? lo : lo - 1];
}

// The row passes run once per pivot, many times per M-step: below kParallelBlocks blocks a
// parallel region costs more than it saves (threads spin at its barriers), so the blocks run
// on the calling thread. The blocks and their reduction order are the same either way.
constexpr Index kParallelBlocks = 8;

template <typename Body>
void for_blocks(Index n, Body body) {
  if (num_blocks(n) >= kParallelBlocks) {
    parallel_blocks(n, body);
    return;
  }
  for (Index b = 0, begin = 0; begin < n; ++b, begin += kBlockRows)
    body(b, begin, std::min(kBlockRows, n - begin));
}

template <typename T, typename Body>
T reduce_row_blocks(Index n, const T& zero, Body body) {
  std::vector<BlockPartial<T>> partial(static_cast<size_t>(num_blocks(n)), BlockPartial<T>{zero});
  for_blocks(n, [&](Index b, Index begin, Index size) {
    body(begin, size, partial[static_cast<size_t>(b)].value);
  });
  T total = zero;
  for (const BlockPartial<T>& q : partial) total += q.value;
  return total;
}

// The breakpoints of a line search kept per row block (block b's in row order), so that the
// passes over them run on the threads; their concatenation in block order is the serial
// pass's list. Each block's list heads a cache line of its own: the pass that fills them
// writes a list's end pointer at every row, and lists of neighbouring blocks on one line made
// the two threads' passes pull that line back and forth.
using BlockBreakpoints = std::vector<BlockPartial<std::vector<Breakpoint>>>;

// select_reaching over the union of the blocks' breakpoints, by rounds of Floyd & Rivest's
// selection (1975) whose partitioning runs per block (on the threads for many rows): 127
// evenly spaced breakpoints are sorted, the one at which their running weight, scaled to the
// remaining breakpoints' weight, reaches the target is located, and the sample's
// breakpoints kBand places either side of it are the pivots p1 <= p2. One pass per round
// partitions each block's remaining range into before p1, p1..p2 and after p2 and sums the
// three parts' weights; the part where the running weight reaches the target is kept (most
// often the middle one: about 2 kBand / 127 of the breakpoints). The last few thousand are
// gathered in block order and finished by select_reaching. The weights are summed in block
// order, so the result does not depend on the thread count.
Breakpoint select_reaching_blocks(Index n, BlockBreakpoints& blocks, double target) {
  constexpr size_t kGathered = 4096, kSample = 127, kBand = 8;
  struct Part {
    double left = 0.0, middle = 0.0, right = 0.0;
    Part& operator+=(const Part& o) {
      left += o.left;
      middle += o.middle;
      right += o.right;
      return *this;
    }
  };
  const size_t B = blocks.size();
  // Block b's remaining breakpoints are blocks[b].value[lo[b], hi[b]); split[b] holds the
  // ends of its three parts after a round's pass.
  std::vector<size_t> lo(B, 0), hi, start(B + 1);
  std::vector<std::pair<size_t, size_t>> split(B);
  hi.reserve(B);
  for (const auto& c : blocks) hi.push_back(c.value.size());
  std::vector<Breakpoint> v;
  double remaining = -1.0;  // the remaining breakpoints' weight, once a pass has summed it
  for (;;) {
    start[0] = 0;
    for (size_t b = 0; b < B; ++b) start[b + 1] = start[b] + (hi[b] - lo[b]);
    const size_t total = start.back();
    if (total <= kGathered) {
      v.clear();
      for (size_t b = 0; b < B; ++b)
        for (size_t i = lo[b]; i < hi[b]; ++i) v.push_back(blocks[b].value[i]);
      return select_reaching(v, 0, v.size(), target);
    }
    v.clear();
    for (size_t j = 0, b = 0; j < kSample; ++j) {
      const size_t g = (2 * j + 1) * total / (2 * kSample);
      while (start[b + 1] <= g) ++b;
      v.push_back(blocks[b].value[lo[b] + g - start[b]]);
    }
    std::sort(v.begin(), v.end(), before);
    double sample_weight = 0.0;
    for (const Breakpoint& a : v) sample_weight += a.weight;
    // The first round estimates the remaining weight from the sample.
    const double scale = (remaining >= 0.0 ? remaining
                                           : sample_weight * static_cast<double>(total) /
                                                 static_cast<double>(kSample)) /
                         std::max(sample_weight, std::numeric_limits<double>::min());
    size_t at = 0;
    for (double run = v[0].weight * scale; at + 1 < kSample && run < target;)
      run += v[++at].weight * scale;
    const Breakpoint p1 = v[at > kBand ? at - kBand : 0];
    const Breakpoint p2 = v[std::min(at + kBand, kSample - 1)];
    const Part part = reduce_row_blocks(n, Part{}, [&](Index begin, Index, Part& acc) {
      const size_t b = static_cast<size_t>(begin / kBlockRows);
      auto& c = blocks[b].value;
      const auto first = c.begin() + static_cast<std::ptrdiff_t>(lo[b]);
      const auto last = c.begin() + static_cast<std::ptrdiff_t>(hi[b]);
      const auto m1 =
          std::partition(first, last, [&](const Breakpoint& a) { return before(a, p1); });
      const auto m2 = std::partition(m1, last, [&](const Breakpoint& a) { return !before(p2, a); });
      for (auto it = first; it != m1; ++it) acc.left += it->weight;
      for (auto it = m1; it != m2; ++it) acc.middle += it->weight;
      for (auto it = m2; it != last; ++it) acc.right += it->weight;
      split[b] = {static_cast<size_t>(m1 - c.begin()), static_cast<size_t>(m2 - c.begin())};
    });
    if (part.left >= target) {
      for (size_t b = 0; b < B; ++b) hi[b] = split[b].first;
      remaining = part.left;
    } else if (part.left + part.middle >= target) {
      target -= part.left;
      for (size_t b = 0; b < B; ++b) std::tie(lo[b], hi[b]) = split[b];
      remaining = part.middle;
    } else {
      target -= part.left + part.middle;
      for (size_t b = 0; b < B; ++b) lo[b] = split[b].second;
      remaining = part.right;
    }
  }
}

// Sums over the rows at b, in block order.
struct ResidualSums {
  Vector v;        // sum over nonbasic rows of w_i sign(e_i) x_i (0 where e_i = 0)
  double f = 0.0;  // sum_i w_i |e_i|
  ResidualSums& operator+=(const ResidualSums& o) {
    v += o.v;
    f += o.f;
    return *this;
  }
};

// e = y - X b. Basic rows get e_i = 0 exactly, and so do rows whose residual is rounding
// noise (|e_i| <= 8 eps (|y_i| + sum_j |x_ij b_j|)): those lie on the fit as well.
ResidualSums residual_pass(const ConstMatrixRef& x,
                           const ConstVectorRef& y,
                           const ConstVectorRef& w,
                           const Vector& b,
                           const std::vector<char>& basic,
                           Vector& e) {
  const Index p = x.cols();
  const Vector babs = b.cwiseAbs();
  return reduce_row_blocks(
      x.rows(), ResidualSums{Vector::Zero(p), 0.0},
      [&](Index begin, Index size, ResidualSums& acc) {
        const auto xb = x.middleRows(begin, size);
        auto eb = e.segment(begin, size);
        eb.noalias() = y.segment(begin, size) - xb * b;
        const Vector noise =
            8.0 * kEps * (y.segment(begin, size).cwiseAbs() + xb.cwiseAbs() * babs);
        Vector ws(size);
        for (Index i = 0; i < size; ++i) {
          if (basic[static_cast<size_t>(begin + i)] || std::abs(eb(i)) <= noise(i)) eb(i) = 0.0;
          const double wi = w(begin + i);
          ws(i) = eb(i) > 0 ? wi : (eb(i) < 0 ? -wi : 0.0);
          acc.f += wi * std::abs(eb(i));
        }
        acc.v.noalias() += xb.transpose() * ws;
      });
}

// z = X d on the rows of one block, 0 on basic rows and where it is rounding noise
// (|z_i| <= 64 eps sum_j |x_ij d_j|).
void direction_rows(const ConstMatrixRef& x,
                    const Vector& d,
                    const Vector& dabs,
                    const std::vector<char>& basic,
                    Vector& z,
                    Index begin,
                    Index size) {
  const auto xb = x.middleRows(begin, size);
  auto zb = z.segment(begin, size);
  zb.noalias() = xb * d;
  const Vector noise = 64.0 * kEps * (xb.cwiseAbs() * dabs);
  for (Index i = 0; i < size; ++i)
    if (basic[static_cast<size_t>(begin + i)] || std::abs(zb(i)) <= noise(i)) zb(i) = 0.0;
}

// A block's breakpoint list, emptied, with room for the block's rows (one allocation per
// solve rather than a list grown row by row on every pass).
std::vector<Breakpoint>& block_list(BlockBreakpoints& line, Index begin, Index size) {
  auto& c = line[static_cast<size_t>(begin / kBlockRows)].value;
  c.clear();
  if (c.capacity() < static_cast<size_t>(size)) c.reserve(static_cast<size_t>(size));
  return c;
}

bool any_breakpoint(const BlockBreakpoints& line) {
  for (const auto& c : line)
    if (!c.value.empty()) return true;
  return false;
}

}  // namespace

double weighted_lad_objective(const ConstMatrixRef& x,
                              const ConstVectorRef& y,
                              const ConstVectorRef& w,
                              const ConstVectorRef& b) {
  return reduce_row_blocks(x.rows(), 0.0, [&](Index begin, Index size, double& acc) {
    acc += w.segment(begin, size)
               .dot((y.segment(begin, size) - x.middleRows(begin, size) * b).cwiseAbs());
  });
}

bool weighted_lad(const ConstMatrixRef& x,
                  const ConstVectorRef& y,
                  const ConstVectorRef& w,
                  const ConstVectorRef& b0,
                  WeightedLad& out,
                  const std::vector<Index>& basis0,
                  int max_pivots) {
  const Index n = x.rows(), p = x.cols();
  if (p < 1 || y.size() != n || w.size() != n || b0.size() != p)
    throw Error("weighted_lad: shape mismatch");
  std::vector<char> basic(static_cast<size_t>(n), 0);
  std::vector<Index> B;
  Vector b = b0, e(n), z(n);
  BlockBreakpoints line(static_cast<size_t>(num_blocks(n)));
  // sum_i w_i |x_i|, the scale of the rounding error of ResidualSums::v: the same at every
  // vertex, so summed once; with it, whether every weight is finite and >= 0 (in the same
  // pass on the threads: a serial check was the largest serial step of a Laplace M-step).
  // The last entry counts the blocks with a bad weight.
  const Vector sums =
      reduce_row_blocks(n, Vector(Vector::Zero(p + 1)), [&](Index begin, Index size, Vector& acc) {
        const auto wb = w.segment(begin, size);
        acc.head(p).noalias() += x.middleRows(begin, size).cwiseAbs().transpose() * wb;
        if (!((wb.array() >= 0.0).all() && wb.allFinite())) acc(p) += 1.0;
      });
  if (sums(p) > 0.0)
    for (Index i = 0; i < n; ++i)
      if (!(w(i) >= 0.0) || !std::isfinite(w(i)))
        throw Error(fmt::format("weighted_lad: weight {} of row {} is negative or not finite", w(i),
                                i + 1));
  const Vector vabs = sums.head(p);

  Matrix XB(p, p);
  Vector yB(p);
  Eigen::PartialPivLU<Matrix> lu;
  const ConstVectorRef* ycur = &y;  // the response the pivots work on: y, or y perturbed
  const auto factor = [&]() {
    for (Index l = 0; l < p; ++l) {
      XB.row(l) = x.row(B[static_cast<size_t>(l)]);
      yB(l) = (*ycur)(B[static_cast<size_t>(l)]);
    }
    lu.compute(XB);
    return lu.rcond() > 1e-14;
  };
  ResidualSums s;

  // Warm start: the vertex through basis0 (the previous M-step's), when it is one and is no
  // worse than b0 beyond the rounding of f. b0 is usually that vertex itself, and f summed by
  // residual_pass (rows on the fit set to 0) and by weighted_lad_objective differ in the last
  // bits: compared exactly, a third of the M-steps of bench_robust's Laplace benchmark were
  // refused and began again with p serial line searches.
  bool started = false;
  if (static_cast<Index>(basis0.size()) == p) {
    bool valid = true;
    for (const Index i : basis0) {
      if (i < 0 || i >= n || w(i) == 0.0 || basic[static_cast<size_t>(i)]) {
        valid = false;
        break;
      }
      basic[static_cast<size_t>(i)] = 1;
      B.push_back(i);
    }
    if (valid && factor()) {
      b = lu.solve(yB);
      s = residual_pass(x, y, w, b, basic, e);
      started = s.f <= weighted_lad_objective(x, y, w, b0) * (1.0 + 1e-12);
    }
    if (!started) {
      for (const Index i : B) basic[static_cast<size_t>(i)] = 0;
      B.clear();
      b = b0;
    }
  }

  // Otherwise from b0: p exact line searches, each along the steepest descent direction
  // within the directions that keep the rows found so far interpolated (any such direction
  // when that is 0); the line minimum interpolates one more row, independent of the earlier
  // ones because it moves along the direction.
  if (!started) {
    for (Index m = 0; m < p; ++m) {
      const ResidualSums at_b = residual_pass(x, y, w, b, basic, e);
      Matrix N = Matrix::Identity(p, p);
      if (m > 0) {
        Matrix XBt(p, m);
        for (Index l = 0; l < m; ++l) XBt.col(l) = x.row(B[static_cast<size_t>(l)]).transpose();
        const Eigen::HouseholderQR<Matrix> qr(XBt);
        const Matrix Q = qr.householderQ() * Matrix::Identity(p, p);
        N = Q.rightCols(p - m);
      }
      Vector d = N * (N.transpose() * at_b.v);
      if (!(d.norm() > 1e-12 * at_b.v.norm())) d = N.col(0);
      // The breakpoints e_i / z_i (weights w_i |z_i|) of the weighted rows that move along d,
      // per row block on the threads; the line's minimum is their lower weighted median.
      const Vector dabs = d.cwiseAbs();
      const double total = reduce_row_blocks(n, 0.0, [&](Index begin, Index size, double& acc) {
        direction_rows(x, d, dabs, basic, z, begin, size);
        auto& c = block_list(line, begin, size);
        for (Index i = begin; i < begin + size; ++i)
          if (z(i) != 0.0 && w(i) > 0.0) {
            c.push_back({e(i) / z(i), w(i) * std::abs(z(i)), i});
            acc += c.back().weight;
          }
      });
      if (!any_breakpoint(line)) return false;  // no weighted row off the span: rank deficient
      const Breakpoint k = select_reaching_blocks(n, line, 0.5 * total);
      b += k.t * d;
      basic[static_cast<size_t>(k.row)] = 1;
      B.push_back(k.row);
    }
    if (!factor()) return false;
    b = lu.solve(yB);
    s = residual_pass(x, y, w, b, basic, e);
  }

  // Pivots. Rows other than the basis that lie on the fit (ties, duplicated rows) add
  // w_i |x_i'd| to the slope of f along every direction d; along edge j that is
  // w_i |(X_B^{-T} x_i)_j|, summed into `tied`. The edge's gain (slope of the descent
  // along it) is then exact, and a pivot is taken only when it is positive: f strictly
  // decreases, so no vertex repeats. When every tied row is parallel to one basis row the
  // edge test is also the exact subgradient condition; otherwise (p + 1 rows on one
  // hyperplane, not parallel) a vertex where no edge descends is not certified: see below.
  int pivots = 0;
  Index flat_pivots = 0;
  bool general_tie = false;
  const auto run_pivots = [&]() {
    flat_pivots = 0;
    for (;;) {
      const Matrix Binv = lu.inverse();
      // Per row block on the threads, summed in block order.
      struct Ties {
        Vector tied;
        bool general = false;
        Ties& operator+=(const Ties& o) {
          tied += o.tied;
          general = general || o.general;
          return *this;
        }
      };
      const Ties ties = reduce_row_blocks(
          n, Ties{Vector::Zero(p), false}, [&](Index begin, Index size, Ties& acc) {
            for (Index i = begin; i < begin + size; ++i) {
              if (e(i) != 0.0 || basic[static_cast<size_t>(i)] || w(i) == 0.0) continue;
              const Vector a = Binv.transpose() * x.row(i).transpose();
              const double amax = a.cwiseAbs().maxCoeff();
              if ((a.cwiseAbs().array() > 1e-12 * amax).count() > 1) acc.general = true;
              acc.tied += w(i) * a.cwiseAbs();
            }
          });
      const Vector& tied = ties.tied;
      general_tie = ties.general;
      const Vector g = Binv.transpose() * s.v;
      const Vector gabs = Binv.cwiseAbs().transpose() * vabs;
      std::vector<std::pair<double, Index>> gains;
      for (Index j = 0; j < p; ++j) {
        const double gain = std::abs(g(j)) - w(B[static_cast<size_t>(j)]) - tied(j);
        if (gain > 1e-10 * gabs(j)) gains.emplace_back(-gain, j);
      }
      if (gains.empty()) return !general_tie;
      if (pivots >= max_pivots) return false;
      std::sort(gains.begin(), gains.end());
      bool moved = false;
      for (const auto& gj : gains) {
        const Index j = gj.second;
        const size_t leaving = static_cast<size_t>(B[static_cast<size_t>(j)]);
        const double sigma = g(j) > 0 ? 1.0 : -1.0;
        const Vector d = sigma * Binv.col(j);
        const Vector dabs = d.cwiseAbs();
        // f along b + t d for t > 0: slope W(t_i <= 0) - W(t_i > 0) at 0+ (the leaving row,
        // t = 0, on the left), rising by 2 w_i |z_i| at each positive breakpoint.
        // Per row block on the threads, z = X d with them; the slope's changes summed in block
        // order.
        const double change = reduce_row_blocks(n, 0.0, [&](Index begin, Index size, double& acc) {
          direction_rows(x, d, dabs, basic, z, begin, size);
          auto& c = block_list(line, begin, size);
          for (Index i = begin; i < begin + size; ++i) {
            if (z(i) == 0.0 || w(i) == 0.0) continue;
            const double t = e(i) / z(i), wi = w(i) * std::abs(z(i));
            if (t > 0.0) {
              c.push_back({t, wi, i});
              acc -= wi;
            } else {
              acc += wi;
            }
          }
        });
        const double slope = w(static_cast<Index>(leaving)) + change;
        if (!(slope < 0.0) || !any_breakpoint(line)) continue;  // no descent (rounding)
        const Breakpoint k = select_reaching_blocks(n, line, -0.5 * slope);
        const std::vector<Index> B_before = B;
        basic[leaving] = 0;
        basic[static_cast<size_t>(k.row)] = 1;
        B[static_cast<size_t>(j)] = k.row;
        if (!factor()) {  // an ill-conditioned basis: keep the previous vertex
          basic[leaving] = 1;
          basic[static_cast<size_t>(k.row)] = 0;
          B = B_before;
          factor();
          continue;
        }
        const Vector b_new = lu.solve(yB);
        ResidualSums s_new = residual_pass(x, *ycur, w, b_new, basic, e);
        // In exact arithmetic f falls by at least the gain times the step. Near the optimum
        // of a large problem that is below the rounding of f, so a pivot is accepted while f
        // stays within that rounding, for at most p such pivots in a row (f can then no
        // longer be told apart); a clear increase returns to the previous vertex.
        const bool flat = !(s_new.f < s.f);
        flat_pivots = flat ? flat_pivots + 1 : 0;
        if (flat && (s_new.f > s.f * (1.0 + 1e-13) || flat_pivots > p)) {
          basic[leaving] = 1;
          basic[static_cast<size_t>(k.row)] = 0;
          B = B_before;
          factor();
          s = residual_pass(x, *ycur, w, b, basic, e);
          break;
        }
        b = b_new;
        s = std::move(s_new);
        moved = true;
        break;
      }
      if (!moved) return false;
      ++pivots;
    }
  };
  bool optimal = run_pivots();

  // Stuck at a vertex with p + 1 or more rows on the fit that no edge leaves downhill (a
  // degenerate LP: ties in discrete data): pivot on y plus a tiny deterministic perturbation
  // (Charnes 1952), which has no such ties, then return to y from that optimum's basis. For
  // a small enough perturbation an optimal basis of the perturbed problem is optimal for y;
  // the result is kept only if it is no worse.
  if (!optimal && general_tie && pivots < max_pivots) {
    const Vector b_stuck = b;
    const std::vector<Index> B_stuck = B;
    const ResidualSums s_stuck = s;
    const double spread = s.f / std::max(w.sum(), std::numeric_limits<double>::min());
    Vector yp(n);
    for (Index i = 0; i < n; ++i) {
      // splitmix64 of the row index: a fixed pseudo-random u_i in [-1, 1).
      uint64_t h = static_cast<uint64_t>(i) + 0x9e3779b97f4a7c15ULL;
      h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
      h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
      h ^= h >> 31;
      const double u = static_cast<double>(h >> 11) * 0x1.0p-52 - 1.0;
      yp(i) = y(i) + u * (1e-9 * spread + 1e-12 * std::abs(y(i)));
    }
    const ConstVectorRef yp_ref(yp);
    ycur = &yp_ref;
    bool perturbed_optimal = false;
    if (factor()) {
      b = lu.solve(yB);
      s = residual_pass(x, *ycur, w, b, basic, e);
      perturbed_optimal = run_pivots();
    }
    ycur = &y;
    const bool ok = factor();
    if (ok) {
      b = lu.solve(yB);
      s = residual_pass(x, y, w, b, basic, e);
    }
    if (!ok || !(s.f <= s_stuck.f)) {
      for (const Index i : B) basic[static_cast<size_t>(i)] = 0;
      B = B_stuck;
      for (const Index i : B) basic[static_cast<size_t>(i)] = 1;
      factor();
      b = b_stuck;
      s = s_stuck;
    } else {
      optimal = run_pivots() || perturbed_optimal;
    }
  }

  out.b = b;
  out.basis = B;
  out.objective = s.f;
  out.pivots = pivots;
  out.optimal = optimal;
  out.warm = started;
  return true;
}

}  // namespace moekit
