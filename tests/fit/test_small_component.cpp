// Small-component starts (fit/small_component.hpp): the windows follow one response's order,
// the rows a fit explains poorly and that lie together rank first, the windows of a response
// share no rows, tied values rank finitely, and a start hands the window's rows wholly to a
// new component.

#include "moekit/fit/small_component.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

using namespace moekit;

namespace {

// 40 rows on a line, y = (i, 40 - i), and the fit explaining them well (log-likelihood -1)
// except rows 30..35 (-12): the rows a new component is for.
struct Line {
  Matrix y{40, 2};
  Vector row_loglik{40};
  Line() {
    for (Index i = 0; i < 40; ++i) {
      // Rows stored in a shuffled order: the windows follow the values, not the storage.
      const Index r = (i * 17) % 40;
      y(r, 0) = static_cast<double>(i);
      y(r, 1) = 40.0 - static_cast<double>(i);
      row_loglik(r) = i >= 30 && i <= 35 ? -12.0 : -1.0;
    }
  }
};

std::set<double> values(const Matrix& y, const SmallComponentWindow& w) {
  std::set<double> out;
  for (Index i : w.rows) out.insert(y(i, 0));
  return out;
}

}  // namespace

TEST_CASE("small-component windows: the poorly explained neighbours first, per response",
          "[small_component]") {
  const Line d;
  const auto windows = small_component_windows(d.y, d.row_loglik, 6, 2);
  REQUIRE(windows.size() == 4);  // 2 per response
  CHECK(windows[0].column == 0);
  CHECK(windows[1].column == 0);
  CHECK(windows[2].column == 1);
  CHECK(windows[3].column == 1);
  // The first window of each response is rows 30..35, in that response's order.
  const std::set<double> bad{30, 31, 32, 33, 34, 35};
  CHECK(values(d.y, windows[0]) == bad);
  CHECK(values(d.y, windows[2]) == bad);
  CHECK(d.y(windows[0].rows.front(), 0) == 30.0);
  CHECK(d.y(windows[2].rows.front(), 0) == 35.0);  // response 2 runs the other way
  CHECK(windows[0].gain > windows[1].gain);
  for (const auto& w : windows) {
    CHECK(w.rows.size() == 6);
    CHECK(std::isfinite(w.gain));
  }
  // The second window shares no row with the first.
  for (Index i : windows[1].rows)
    CHECK(std::find(windows[0].rows.begin(), windows[0].rows.end(), i) == windows[0].rows.end());
  // However many are asked for, a response's windows share no rows: at most 40 / 6 of them.
  const auto all = small_component_windows(d.y, d.row_loglik, 6, 100);
  for (Index c = 0; c < 2; ++c) {
    std::set<Index> rows;
    size_t count = 0;
    for (const auto& w : all)
      if (w.column == c) {
        rows.insert(w.rows.begin(), w.rows.end());
        ++count;
      }
    CHECK(count >= 5);
    CHECK(count <= 6);
    CHECK(rows.size() == 6 * count);
  }
  CHECK(small_component_windows(d.y, d.row_loglik, 41, 2).empty());
  CHECK(small_component_windows(d.y, d.row_loglik, 0, 2).empty());
  CHECK(small_component_windows(d.y, d.row_loglik, 6, 0).empty());
}

TEST_CASE("small-component windows: tied values rank finitely", "[small_component]") {
  // Response 1 takes 4 values, 10 rows each (as faithful's whole-minute waiting times): a
  // window inside one value has no spread there, and the floor keeps its gain finite.
  Matrix y(40, 2);
  for (Index i = 0; i < 40; ++i) {
    y(i, 0) = static_cast<double>(i % 4);
    y(i, 1) = 0.1 * static_cast<double>(i);
  }
  const Vector row_loglik = Vector::Constant(40, -2.0);
  const auto windows = small_component_windows(y, row_loglik, 5, 3);
  REQUIRE(windows.size() == 6);
  for (const auto& w : windows) CHECK(std::isfinite(w.gain));
  // Of the windows in response 1's order, the best lie within one value.
  const std::set<double> first{y(windows[0].rows.front(), 0), y(windows[0].rows.back(), 0)};
  CHECK(first.size() == 1);
}

TEST_CASE("a small-component start hands the window's rows to a new component",
          "[small_component]") {
  const Line d;
  Matrix leaves(40, 3);
  for (Index i = 0; i < 40; ++i) {
    leaves(i, 0) = 0.2;
    leaves(i, 1) = 0.3;
    leaves(i, 2) = 0.5;
  }
  const auto windows = small_component_windows(d.y, d.row_loglik, 6, 1);
  REQUIRE_FALSE(windows.empty());
  const Matrix start = small_component_start(leaves, windows[0]);
  REQUIRE(start.rows() == 40);
  REQUIRE(start.cols() == 4);
  CHECK((start.rowwise().sum() - leaves.rowwise().sum()).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(start.col(3).sum() == 6.0);
  for (Index i : windows[0].rows) {
    CHECK(start(i, 3) == 1.0);
    CHECK(start.row(i).head(3).isZero());
  }
  const Index outside =
      std::find(windows[0].rows.begin(), windows[0].rows.end(), 0) == windows[0].rows.end() ? 0 : 1;
  CHECK(start.row(outside).head(3) == leaves.row(outside));
}

TEST_CASE("small-component windows: the log-likelihood ranking takes the worst explained rows",
          "[small_component]") {
  // Rows 0..4 lie close together (their spread in response 1 below the floor) and are
  // explained poorly (-3); rows 30..34 are spread out as the others and explained worst
  // (-3.5). The gain ranking takes the dense clump, the log-likelihood
  // ranking the poorly explained rows, wherever they lie.
  Matrix y(40, 2);
  Vector row_loglik = Vector::Constant(40, -1.0);
  for (Index i = 0; i < 40; ++i) {
    y(i, 0) = i < 5 ? 0.01 * static_cast<double>(i) : static_cast<double>(i);
    y(i, 1) = static_cast<double>(i % 2);
  }
  row_loglik.head(5).setConstant(-3.0);
  row_loglik.segment(30, 5).setConstant(-3.5);
  const auto gain = small_component_windows(y, row_loglik, 5, 1, WindowRanking::Gain);
  const auto loglik = small_component_windows(y, row_loglik, 5, 1, WindowRanking::Loglik);
  REQUIRE(gain.size() == 2);
  REQUIRE(loglik.size() == 2);
  CHECK(std::set<Index>(gain[0].rows.begin(), gain[0].rows.end()) ==
        std::set<Index>{0, 1, 2, 3, 4});
  CHECK(std::set<Index>(loglik[0].rows.begin(), loglik[0].rows.end()) ==
        std::set<Index>{30, 31, 32, 33, 34});
  CHECK(loglik[0].gain == Approx(17.5));
  for (const auto& w : gain) CHECK(std::isfinite(w.gain));
  // A constant response ranks every window alike: the scores stay finite.
  Matrix flat = y;
  flat.col(1).setConstant(1.0);
  for (const auto& w : small_component_windows(flat, row_loglik, 5, 2))
    CHECK(std::isfinite(w.gain));
}
