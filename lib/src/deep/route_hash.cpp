// Hash layers (Roller et al. 2021, "Random Hash"): the expert of a token is a fixed random
// function of its id, weight 1, no router parameters (so no backward).

#include "moekit/core/error.hpp"
#include "routing.hpp"

#include <fmt/format.h>

namespace moekit::deep::detail {

template <typename S>
void route_hash(const MoeConfig& c, MoeWorkspaceT<S>& ws, const ForwardContext& ctx) {
  const Index T = ws.tokens, E = c.num_experts;
  if (ctx.token_ids == nullptr || static_cast<Index>(ctx.token_ids->size()) != T)
    throw InputError::option(
        "ForwardContext::token_ids",
        ctx.token_ids == nullptr ? "null" : std::to_string(ctx.token_ids->size()),
        fmt::format("hash routing needs one id per token (T = {})", T));
  ws.pair_expert.resize(static_cast<std::size_t>(T));
  ws.pair_token.resize(static_cast<std::size_t>(T));
  ws.pair_weight.assign(static_cast<std::size_t>(T), S(1));
  for (Index t = 0; t < T; ++t) {
    ws.pair_expert[static_cast<std::size_t>(t)] =
        hash_expert((*ctx.token_ids)[static_cast<std::size_t>(t)], c.router.hash_seed, E);
    ws.pair_token[static_cast<std::size_t>(t)] = t;
  }
  build_dispatch(ws.pair_expert.data(), ws.pair_token.data(), T, E,
                 capacity(c.router.capacity_factor, T, E), ws.dispatch);
}

template void route_hash<float>(const MoeConfig&, MoeWorkspaceT<float>&, const ForwardContext&);
template void route_hash<double>(const MoeConfig&, MoeWorkspaceT<double>&, const ForwardContext&);

}  // namespace moekit::deep::detail
