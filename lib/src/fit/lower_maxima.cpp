#include "moekit/fit/lower_maxima.hpp"

#include <algorithm>
#include <cmath>

namespace moekit {

bool LowerMaxima::add(double objective,
                      double margin,
                      std::vector<Index> key,
                      const Matrix& leaves,
                      const Vector& row_loglik) {
  if (capacity_ == 0) return false;
  if (entries_.size() >= capacity_ && objective <= entries_.back().objective) return false;
  for (const LowerMaximum& m : entries_)
    if (m.key == key || std::abs(m.objective - objective) <= margin) return false;
  const auto at = std::find_if(entries_.begin(), entries_.end(),
                               [&](const LowerMaximum& m) { return m.objective < objective; });
  entries_.insert(at, LowerMaximum{objective, std::move(key), leaves, row_loglik});
  if (entries_.size() > capacity_) entries_.pop_back();
  return true;
}

}  // namespace moekit
