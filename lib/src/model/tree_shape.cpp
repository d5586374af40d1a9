#include "moekit/model/tree_shape.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <charconv>

namespace moekit {

TreeShape::TreeShape(std::vector<Index> branching) : branching_(std::move(branching)) {
  if (branching_.empty()) throw InputError::option("--tree", "", "needs at least one level");
  // The leaf count is a product: keep it far from overflow (and from any sensible K).
  Index count = 1;
  level_size_.push_back(1);
  level_first_.push_back(0);
  for (Index b : branching_) {
    if (b < 1 || b > kMaxLeaves)
      throw InputError::option("--tree", to_string(),
                               "every level needs between 1 and 2^20 branches");
    if (count > kMaxLeaves / b)
      throw InputError::option("--tree", to_string(), "has more than 2^20 leaves");
    level_first_.push_back(level_first_.back() + count);
    count *= b;
    level_size_.push_back(count);
  }
}

TreeShape TreeShape::flat(Index K) {
  if (K < 1 || K > kMaxLeaves)
    throw InputError::option("-k", std::to_string(K),
                             "must be between 1 and 2^20 (1048576) components");
  return TreeShape({K});
}

TreeShape TreeShape::parse(const std::string& text) {
  std::vector<Index> b;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(',', pos), text.size());
    long long v = 0;
    const char* first = text.data() + pos;
    const char* last = text.data() + end;
    while (first < last && *first == ' ') ++first;
    while (last > first && last[-1] == ' ') --last;
    const auto r = std::from_chars(first, last, v);
    if (first == last || r.ec != std::errc() || r.ptr != last)
      throw InputError::option("--tree", text,
                               "must be branching factors separated by commas, e.g. 2,3");
    if (v < 1) throw InputError::option("--tree", text, "every level needs at least one branch");
    b.push_back(static_cast<Index>(v));
    pos = end + 1;
  }
  return TreeShape(std::move(b));
}

Index TreeShape::depth_of(Index node) const {
  Index d = 0;
  while (d < depth() && node >= level_first(d + 1)) ++d;
  return d;
}

Index TreeShape::first_child(Index node) const {
  const Index d = depth_of(node);
  return level_first(d + 1) + (node - level_first(d)) * branching_[static_cast<size_t>(d)];
}

Index TreeShape::parent(Index node) const {
  if (node == 0) return -1;
  const Index d = depth_of(node);
  return level_first(d - 1) + (node - level_first(d)) / branching_[static_cast<size_t>(d - 1)];
}

Index TreeShape::leaf_count(Index node) const { return leaves() / level_size(depth_of(node)); }

Index TreeShape::first_leaf(Index node) const {
  return (node - level_first(depth_of(node))) * leaf_count(node);
}

std::string TreeShape::to_string() const {
  std::string s;
  for (Index b : branching_) s += (s.empty() ? "" : ",") + std::to_string(b);
  return s;
}

std::string TreeShape::node_path(Index node) const {
  std::vector<Index> steps;
  while (node > 0) {
    const Index p = parent(node);
    steps.push_back(node - first_child(p) + 1);
    node = p;
  }
  std::string s;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    s += (s.empty() ? "" : ".") + std::to_string(*it);
  return s;
}

std::string TreeShape::leaf_path(Index leaf) const { return node_path(leaf_node(leaf)); }

}  // namespace moekit
