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

struct SmallComponentWindow {
  Index column = 0;         // the response whose order the window follows
  std::vector<Index> rows;  // its m rows, in that order
  double gain = 0.0;        // what its rows' log-likelihood would gain (the ranking)
};

// The windows of `m` consecutive rows in the order of each column of `y` (ties kept in row
// order), the most promising first: for each column, the `per_column` windows, no two sharing
// a row, whose rows gain most from a component of their own, i.e. the largest
//   sum over the window's rows of  log(m / n) + log N(y_i | window mean, window variances)
//                                   - row_loglik_i,
// where `row_loglik` is the K - 1 fit's log p(y_i | x_i) per row (n rows) and the variances
// are the window's own per response, floored (kSmallComponentScaleFloor). Rows that the fit
// explains poorly and that lie close together score high. Empty when m < 1 or m > n.
std::vector<SmallComponentWindow> small_component_windows(const ConstMatrixRef& y,
                                                          const ConstVectorRef& row_loglik,
                                                          Index m,
                                                          int per_column);

// Starting responsibilities (n x (J + 1)) from a J-component fit's `leaves` (n x J): the
// window's rows go wholly to a new last column and the other rows
// keep theirs, so the M-step gives the new component the window's mean and scatter (within
// the structure) and a weight of m / n, and takes the window's rows out of the components
// that held them.
Matrix small_component_start(const ConstMatrixRef& leaves, const SmallComponentWindow& window);

}  // namespace moekit
