// The lower maxima a search keeps (fit/lower_maxima.hpp): the best first, at most its
// capacity, and each maximum once, told apart by partition and by value.

#include "moekit/fit/lower_maxima.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace moekit;

namespace {

// A maximum's posteriors and row log-likelihoods: 4 rows, hard assignments `key`.
struct Entry {
  Matrix leaves;
  Vector row_loglik;
  explicit Entry(const std::vector<Index>& key) : leaves(Matrix::Zero(4, 3)), row_loglik(4) {
    for (Index i = 0; i < 4; ++i) leaves(i, key[static_cast<size_t>(i)]) = 1.0;
    row_loglik.setConstant(-1.0);
  }
};

bool add(LowerMaxima& list, double objective, std::vector<Index> key) {
  const Entry e(key);
  return list.add(objective, 1e-4, std::move(key), e.leaves, e.row_loglik);
}

std::vector<double> objectives(const LowerMaxima& list) {
  std::vector<double> out;
  for (const LowerMaximum& m : list.entries()) out.push_back(m.objective);
  return out;
}

}  // namespace

TEST_CASE("lower maxima: the best first, at most the capacity", "[lower_maxima]") {
  LowerMaxima list(3);
  CHECK(add(list, -10.0, {0, 0, 1, 2}));
  CHECK(add(list, -8.0, {0, 1, 1, 2}));
  CHECK(add(list, -12.0, {0, 1, 2, 2}));
  CHECK(objectives(list) == std::vector<double>{-8.0, -10.0, -12.0});
  // Below the worst of a full list: not kept.
  CHECK_FALSE(add(list, -13.0, {0, 0, 0, 1}));
  // Above it: kept, and the worst dropped.
  CHECK(add(list, -9.0, {0, 1, 0, 2}));
  CHECK(objectives(list) == std::vector<double>{-8.0, -9.0, -10.0});
  CHECK(list.entries()[1].key == std::vector<Index>{0, 1, 0, 2});
  CHECK(list.entries()[1].leaves(2, 0) == 1.0);
  LowerMaxima none(0);
  CHECK_FALSE(add(none, -1.0, {0, 0, 1, 2}));
  CHECK(none.entries().empty());
}

// Two runs to one maximum can stop with partitions that differ by a row on a boundary, their
// objectives within EM's stopping margin: one maximum, kept once, so that the list has room
// for others (select's lookahead on faithful: EVV 7's twelve held four such pairs).
TEST_CASE("lower maxima: one maximum is kept once, by partition or by value", "[lower_maxima]") {
  LowerMaxima list(3);
  CHECK(add(list, -1101.0629428, {0, 0, 1, 2}));
  // Another partition, the same maximum's value to within the margin (1e-4).
  CHECK_FALSE(add(list, -1101.0629431, {0, 1, 1, 2}));
  CHECK_FALSE(add(list, -1101.0628500, {0, 1, 2, 2}));
  // The same partition, another value: the same maximum.
  CHECK_FALSE(add(list, -1100.5, {0, 0, 1, 2}));
  CHECK(objectives(list) == std::vector<double>{-1101.0629428});
  // Beyond the margin, another partition: another maximum.
  CHECK(add(list, -1101.0627, {0, 1, 2, 2}));
  CHECK(add(list, -1101.3618548, {0, 1, 1, 2}));
  CHECK(objectives(list) == std::vector<double>{-1101.0627, -1101.0629428, -1101.3618548});
}
