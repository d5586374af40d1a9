#pragma once
// Small-component starts: a K-component start made from a K - 1 fit by giving a new component
// a window of m rows that lie next to each other in the order of one response and that the
// K - 1 fit explains poorly. Splitting a component (or a split-and-merge move) cuts one
// component's rows in two halves, so it does not reach a maximum where a handful of rows
// between or beside the clusters get a component of their own (on faithful, VEI with K = 7:
// docs/math/covariance_structures.md, "The search"); EM from such a window can.

#include "moekit/core/types.hpp"

#include <vector>

namespace moekit {

// A window's spread in each response is taken as at least this times the response's
// standard deviation when windows are ranked: a window of tied values (faithful's waiting
// times are whole minutes) would otherwise rank above every other at an unbounded density.
// Five times the degenerate rule's kDegenerateScale (fit/degenerate.hpp).
inline constexpr double kSmallComponentScaleFloor = 0.05;

// How windows are ranked. Gain: what the window's rows would gain from a component of their own
// (below). Loglik: how poorly the K - 1 fit explains them, the sum of their row_loglik alone
// (lowest first), which favours sparse tails over dense clumps and so reaches other maxima
// (on faithful, VEV with K = 5, 6); select tries a few of each.
enum class WindowRanking { Gain, Loglik };

struct SmallComponentWindow {
  Index column = 0;         // the response whose order the window follows
  std::vector<Index> rows;  // its m rows, in that order
  double gain = 0.0;        // its score under the ranking asked for (higher ranks first)
};

// The windows of `m` consecutive rows in the order of each column of `y` (ties kept in row
// order), the most promising first: for each column, the `per_column` windows, no two sharing
// a row, whose rows gain most from a component of their own, i.e. the largest
//   sum over the window's rows of  log(m / n) + log N(y_i | window mean, window variances)
//                                   - row_loglik_i,
// where `row_loglik` is the K - 1 fit's log p(y_i | x_i) per row (n rows) and the variances
// are the window's own per response, floored (kSmallComponentScaleFloor). Rows that the fit
// explains poorly and that lie close together score high. With WindowRanking::Loglik the score
// is minus the sum of row_loglik alone. Empty when m < 1 or m > n.
std::vector<SmallComponentWindow> small_component_windows(
    const ConstMatrixRef& y,
    const ConstVectorRef& row_loglik,
    Index m,
    int per_column,
    WindowRanking ranking = WindowRanking::Gain);

// Starting responsibilities (n x (J + 1)) from a J-component fit's `leaves` (n x J): the
// window's rows go wholly to a new last column and the other rows
// keep theirs, so the M-step gives the new component the window's mean and scatter (within
// the structure) and a weight of m / n, and takes the window's rows out of the components
// that held them.
Matrix small_component_start(const ConstMatrixRef& leaves, const SmallComponentWindow& window);

}  // namespace moekit
