// Gating-tree shapes: parsing, breadth-first numbering, paths.

#include "moekit/core/error.hpp"
#include "moekit/model/model_spec.hpp"
#include "moekit/model/tree_shape.hpp"

#include <catch2/catch.hpp>

using namespace moekit;

TEST_CASE("tree shapes number nodes breadth first with the leaves last", "[tree]") {
  const TreeShape t = TreeShape::parse("2,3");
  CHECK(t.depth() == 2);
  CHECK(t.leaves() == 6);
  CHECK(t.inner_nodes() == 3);
  CHECK(t.nodes() == 9);
  CHECK(t.first_child(0) == 1);
  CHECK(t.first_child(1) == 3);
  CHECK(t.first_child(2) == 6);
  CHECK(t.children(0) == 2);
  CHECK(t.children(2) == 3);
  CHECK(t.parent(4) == 1);
  CHECK(t.parent(7) == 2);
  CHECK(t.parent(0) == -1);
  CHECK(t.leaf_node(0) == 3);
  CHECK(t.first_leaf(2) == 3);
  CHECK(t.leaf_count(2) == 3);
  CHECK(t.leaf_path(4) == "2.2");
  CHECK(t.node_path(2) == "2");
  CHECK(t.to_string() == "2,3");

  const TreeShape d = TreeShape::parse("2, 2, 2");
  CHECK(d.leaves() == 8);
  CHECK(d.inner_nodes() == 7);
  CHECK(d.leaf_path(5) == "2.1.2");
  CHECK(d.depth_of(6) == 2);
}

TEST_CASE("a one-level tree is the flat mixture", "[tree]") {
  const TreeShape t = TreeShape::parse("4");
  CHECK(t.is_flat());
  CHECK(t == TreeShape::flat(4));
  CHECK(t.inner_nodes() == 1);
  ModelSpec spec;
  spec.set_shape(t);
  CHECK(spec.K == 4);
  CHECK(spec.tree.empty());
}

TEST_CASE("bad tree shapes name --tree", "[tree][errors]") {
  for (const char* bad : {"", "2,", ",2", "2,x", "0", "2,-1", "1e3", "2;3"})
    CHECK_THROWS_WITH(TreeShape::parse(bad), Catch::Matchers::Contains("--tree"));
  CHECK_THROWS_WITH(TreeShape::parse("1024,1024,1024"), Catch::Matchers::Contains("2^20"));
  CHECK_THROWS_WITH(TreeShape::flat(2000000000), Catch::Matchers::Contains("-k"));
  ModelSpec spec;
  spec.tree = {2, 2};
  spec.K = 3;
  CHECK_THROWS_WITH(spec.validate(), Catch::Matchers::Contains("4 leaves"));
}
