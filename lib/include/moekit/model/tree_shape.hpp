#pragma once
// The shape of a gating tree: the branching factor of each level, root first. {4} is a flat
// mixture of 4 experts; {2, 3} a root gate over 2 gates of 3 experts each (6 leaves). Nodes
// are numbered breadth first (root 0), so the children of a node are consecutive and the
// leaves, all at the same depth, come last in left-to-right order.

#include "moekit/core/types.hpp"

#include <string>
#include <vector>

namespace moekit {

class TreeShape {
 public:
  TreeShape() : branching_{2} {}
  explicit TreeShape(std::vector<Index> branching);  // InputError naming --tree when bad
  static constexpr Index kMaxLeaves = Index{1} << 20;
  // K experts under one gate; InputError naming -k unless 1 <= K <= 2^20.
  static TreeShape flat(Index K);
  // "2,3" -> {2, 3}; InputError naming --tree.
  static TreeShape parse(const std::string& text);

  const std::vector<Index>& branching() const { return branching_; }
  Index depth() const { return static_cast<Index>(branching_.size()); }  // levels of gates
  bool is_flat() const { return depth() == 1; }
  Index leaves() const { return level_size(depth()); }
  Index inner_nodes() const { return level_first(depth()); }  // gates, root included
  Index nodes() const { return inner_nodes() + leaves(); }
  // Nodes at depth d (1 at depth 0) and the number of the first of them.
  Index level_size(Index d) const { return level_size_[static_cast<size_t>(d)]; }
  Index level_first(Index d) const { return level_first_[static_cast<size_t>(d)]; }
  Index children(Index node) const { return branching_[static_cast<size_t>(depth_of(node))]; }
  Index first_child(Index node) const;
  Index parent(Index node) const;  // -1 for the root
  Index depth_of(Index node) const;
  Index leaf_node(Index leaf) const { return inner_nodes() + leaf; }
  // The leaves under an inner node: [first, first + count).
  Index first_leaf(Index node) const;
  Index leaf_count(Index node) const;
  // "2,3"; "4" for a flat tree.
  std::string to_string() const;
  // Leaf k's position as "b1.b2...": 1-based branch at each level ("2.1" for --tree 2,2 k=2).
  std::string leaf_path(Index leaf) const;
  std::string node_path(Index node) const;

  bool operator==(const TreeShape& o) const { return branching_ == o.branching_; }

 private:
  std::vector<Index> branching_;
  std::vector<Index> level_size_, level_first_;
};

}  // namespace moekit
