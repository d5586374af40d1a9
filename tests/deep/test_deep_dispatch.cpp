// Routing mechanics: top-k ties, the stable counting sort, capacity priority, expert choice
// and hash invariants, thread-count independence, workspace reuse and option validation.

#include "deep/deep_test_util.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/deep/dispatch.hpp"
#include "moekit/deep/moe_layer.hpp"
#include "moekit/deep/topk.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

using namespace moekit;
using namespace moekit::deep;

TEST_CASE("deep: top-k orders by value and breaks ties by the lower index", "[deep][topk]") {
  const double v[] = {0.5, 2.0, 0.5, 2.0, -1.0};
  Index out[3];
  top_k_small(v, 5, 1, 3, out);
  CHECK(out[0] == 1);
  CHECK(out[1] == 3);
  CHECK(out[2] == 0);
  std::vector<Index> scratch;
  top_k_large(v, 5, 1, 3, scratch, out);
  CHECK(out[0] == 1);
  CHECK(out[1] == 3);
  CHECK(out[2] == 0);
}

TEST_CASE("deep: counting sort groups pairs by expert, stably, and cuts at capacity",
          "[deep][dispatch]") {
  // Pairs in priority order: (expert, token).
  const std::vector<Index> expert = {2, 0, 2, 1, 2, 0, 2};
  const std::vector<Index> token = {0, 1, 2, 3, 4, 5, 6};
  Dispatch d;
  build_dispatch(expert.data(), token.data(), 7, 3, -1, d);
  CHECK(d.offsets == std::vector<Index>{0, 2, 3, 7});
  CHECK(d.token == std::vector<Index>{1, 5, 3, 0, 2, 4, 6});
  CHECK(d.pair == std::vector<Index>{1, 5, 3, 0, 2, 4, 6});
  CHECK(d.counts == std::vector<Index>{2, 1, 4});
  build_dispatch(expert.data(), token.data(), 7, 3, 2, d);
  CHECK(d.offsets == std::vector<Index>{0, 2, 3, 5});
  CHECK(d.token == std::vector<Index>{1, 5, 3, 0, 2});  // expert 2 keeps its first two
  CHECK(d.kept == std::vector<char>{1, 1, 1, 1, 0, 1, 0});
  CHECK(d.counts == std::vector<Index>{2, 1, 4});  // counts are before the cut
}

TEST_CASE("deep: capacity places first choices before second choices", "[deep][capacity]") {
  MoeConfig c;
  c.dim = 6;
  c.hidden = 4;
  c.num_experts = 4;
  c.router = RouterOptions::mixtral_top2();
  c.router.capacity_factor = 0.5;
  MoeLayer64 layer(c);
  Rng rng(7);
  test::randomize(layer.params(), rng, 1.0);
  const Index T = 64;
  const Matrix x = test::random_matrix(T, c.dim, rng);
  MoeWorkspace64 ws;
  Matrix y(T, c.dim);
  layer.forward(x, ws, y);
  const Index capacity = 16;  // ceil(0.5 * 2 * 64 / 4)
  REQUIRE(ws.dropped > 0);
  for (Index e = 0; e < c.num_experts; ++e) {
    CHECK(ws.dispatch.bucket_size(e) <= capacity);
    bool second_kept = false, first_dropped = false;
    for (Index p = 0; p < 2 * T; ++p) {
      if (ws.pair_expert[p] != e) continue;
      const bool kept = ws.dispatch.kept[p];
      if (p >= T && kept) second_kept = true;
      if (p < T && !kept) first_dropped = true;
    }
    CHECK_FALSE((second_kept && first_dropped));
  }
  // A token dropped by both of its experts gets a zero layer output (it rides the residual
  // when the block has one).
  for (Index t = 0; t < T; ++t) {
    if (!ws.dispatch.kept[t] && !ws.dispatch.kept[T + t]) CHECK(y.row(t).norm() == 0.0);
  }
}

TEST_CASE("deep: expert choice gives each expert c tokens; hash is a function of the id",
          "[deep][routing]") {
  Rng rng(11);
  const Index T = 40;
  {
    MoeConfig c;
    c.dim = 5;
    c.hidden = 3;
    c.num_experts = 4;
    c.router = RouterOptions::expert_choice(2.0);
    MoeLayer64 layer(c);
    layer.init(3);
    const Matrix x = test::random_matrix(T, c.dim, rng);
    MoeWorkspace64 ws;
    Matrix y(T, c.dim);
    layer.forward(x, ws, y);
    for (Index e = 0; e < 4; ++e) CHECK(ws.dispatch.bucket_size(e) == 20);  // ceil(2 * 40 / 4)
    CHECK(ws.dropped == 0);
  }
  {
    MoeConfig c;
    c.dim = 5;
    c.hidden = 3;
    c.num_experts = 4;
    c.router = RouterOptions::hash(5);
    MoeLayer64 layer(c);
    layer.init(3);
    std::vector<std::int64_t> ids(T);
    for (Index t = 0; t < T; ++t) ids[t] = t % 7;
    const Matrix x = test::random_matrix(T, c.dim, rng);
    ForwardContext ctx;
    ctx.token_ids = &ids;
    MoeWorkspace64 ws;
    Matrix y(T, c.dim);
    layer.forward(x, ws, y, ctx);
    for (Index t = 0; t < T; ++t) CHECK(ws.pair_expert[t] == hash_expert(ids[t], 5, 4));
    // Many ids spread over all experts.
    std::vector<int> hits(4, 0);
    for (std::int64_t id = 0; id < 4000; ++id) ++hits[hash_expert(id, 5, 4)];
    for (int h : hits) CHECK(std::abs(h - 1000) < 150);
    ForwardContext no_ids;
    CHECK_THROWS_AS(layer.forward(x, ws, y, no_ids), InputError);
  }
}

TEMPLATE_TEST_CASE("deep: results do not depend on the thread count; workspaces are reused",
                   "[deep][parallel]",
                   float,
                   double) {
  using S = TestType;
  using Mat = MatrixT<S>;
  // Large enough for the parallel phases (over 2^20 multiply-adds) and for buckets of more
  // than one row item (about 800 rows per expert), so that 2 and 3 threads really split the
  // work; a shared expert and both router losses ride along.
  MoeConfig c;
  c.dim = 32;
  c.hidden = 48;
  c.num_experts = 3;
  c.num_shared_experts = 1;
  c.router = RouterOptions::mixtral_top2();
  c.aux.load_balance = 0.01;
  c.aux.z_loss = 1e-3;
  MoeLayerT<S> layer(c);
  layer.init(5);
  Rng rng(5);
  const Index T = 1200;
  const Mat x = test::random_matrix(T, c.dim, rng).cast<S>();
  const Mat dy = test::random_matrix(T, c.dim, rng).cast<S>();
  auto run = [&](int threads, Mat& y, MoeParamsT<S>& g, Mat& dx) {
    set_num_threads(threads);
    MoeWorkspaceT<S> ws;
    y.resize(T, c.dim);
    dx.resize(T, c.dim);
    g.resize_zero(c);
    layer.forward(x, ws, y);
    layer.backward(x, dy, ws, g, dx);
    set_num_threads(0);
    return ws.row_tasks.size() / 3;
  };
  Mat y1, y2, y3, dx1, dx2, dx3;
  MoeParamsT<S> g1, g2, g3;
  CHECK(run(1, y1, g1, dx1) > static_cast<std::size_t>(c.num_experts));
  run(2, y2, g2, dx2);
  run(3, y3, g3, dx3);
  CHECK(y1 == y2);
  CHECK(dx1 == dx2);
  CHECK(y1 == y3);
  CHECK(dx1 == dx3);
  auto s1 = g1.spans(), s2 = g2.spans(), s3 = g3.spans();
  REQUIRE(s1.size() == s2.size());
  for (std::size_t i = 0; i < s1.size(); ++i) {
    CHECK(std::equal(s1[i].first, s1[i].first + s1[i].second, s2[i].first));
    CHECK(std::equal(s1[i].first, s1[i].first + s1[i].second, s3[i].first));
  }

  // Steady state: the second step with the same T reuses every buffer.
  MoeWorkspaceT<S> ws;
  Mat y(T, c.dim), dx(T, c.dim);
  MoeParamsT<S> g;
  g.resize_zero(c);
  layer.forward(x, ws, y);
  layer.backward(x, dy, ws, g, dx);
  const void* ptrs[] = {ws.xs.data(),  ws.act.data(),    ws.out.data(),           ws.dout.data(),
                        ws.dxs.data(), ws.logits.data(), ws.dispatch.token.data()};
  const Mat x2 = test::random_matrix(T, c.dim, rng).cast<S>();
  layer.forward(x2, ws, y);
  layer.backward(x2, dy, ws, g, dx);
  const void* after[] = {ws.xs.data(),  ws.act.data(),    ws.out.data(),           ws.dout.data(),
                         ws.dxs.data(), ws.logits.data(), ws.dispatch.token.data()};
  for (int i = 0; i < 7; ++i) CHECK(ptrs[i] == after[i]);
}

TEST_CASE("deep: bad options and inputs throw InputError", "[deep][errors]") {
  MoeConfig c;
  c.dim = 4;
  c.hidden = 4;
  c.num_experts = 3;
  c.router = RouterOptions::mixtral_top2();
  CHECK_NOTHROW(MoeLayer64(c));
  auto bad = c;
  bad.router.k = 4;
  CHECK_THROWS_AS(MoeLayer64(bad), InputError);
  bad = c;
  bad.router.capacity_factor = -1.0;
  CHECK_THROWS_AS(MoeLayer64(bad), InputError);
  bad = c;
  bad.router = RouterOptions::expert_choice(0.0);
  CHECK_THROWS_AS(MoeLayer64(bad), InputError);
  bad = c;
  bad.aux.importance = 0.1;  // Shazeer losses need noisy top-k
  CHECK_THROWS_AS(MoeLayer64(bad), InputError);
  bad = c;
  bad.router = RouterOptions::noisy_top_k(3);
  bad.aux.load = 0.1;  // needs k < E
  CHECK_THROWS_AS(MoeLayer64(bad), InputError);
  bad = c;
  bad.dim = 0;
  CHECK_THROWS_AS(MoeLayer64(bad), InputError);
  CHECK_THROWS_AS(parse_routing_kind("topk3"), InputError);
  CHECK_THROWS_AS(parse_activation("tanh"), InputError);

  MoeLayer64 layer(c);
  MoeWorkspace64 ws;
  Matrix x(5, 3), y(5, 4);
  x.setZero();
  CHECK_THROWS_AS(layer.forward(x, ws, y), InputError);  // wrong width
  Matrix x4 = Matrix::Zero(5, 4), dx(5, 4);
  MoeParams64 g;
  g.resize_zero(c);
  ForwardContext inference;
  inference.training = false;
  layer.forward(x4, ws, y, inference);
  CHECK_THROWS_AS(layer.backward(x4, y, ws, g, dx), InputError);  // no training forward
  MoeConfig noisy = c;
  noisy.router = RouterOptions::noisy_top_k(2);
  MoeLayer64 nl(noisy);
  CHECK_THROWS_AS(nl.forward(x4, ws, y), InputError);  // training noise needs an rng
}
