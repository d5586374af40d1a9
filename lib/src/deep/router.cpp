#include "moekit/deep/router.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/rng.hpp"

namespace moekit::deep {

RoutingKind parse_routing_kind(const std::string& name) {
  if (name == "topk") return RoutingKind::kTopK;
  if (name == "noisy_topk") return RoutingKind::kNoisyTopK;
  if (name == "expert_choice") return RoutingKind::kExpertChoice;
  if (name == "hash") return RoutingKind::kHash;
  if (name == "soft") return RoutingKind::kSoft;
  throw InputError::option("routing", name,
                           "must be topk, noisy_topk, expert_choice, hash or soft");
}

std::string to_string(RoutingKind kind) {
  switch (kind) {
    case RoutingKind::kTopK:
      return "topk";
    case RoutingKind::kNoisyTopK:
      return "noisy_topk";
    case RoutingKind::kExpertChoice:
      return "expert_choice";
    case RoutingKind::kHash:
      return "hash";
    case RoutingKind::kSoft:
      return "soft";
  }
  return "?";
}

RouterOptions RouterOptions::switch_top1(double capacity_factor) {
  RouterOptions o;
  o.kind = RoutingKind::kTopK;
  o.k = 1;
  o.normalize = false;  // softmax before top-1: the weight p_i carries the router gradient
  o.capacity_factor = capacity_factor;
  return o;
}

RouterOptions RouterOptions::mixtral_top2() {
  RouterOptions o;
  o.kind = RoutingKind::kTopK;
  o.k = 2;
  o.normalize = true;  // top-2 of the logits, softmax over the two
  return o;
}

RouterOptions RouterOptions::noisy_top_k(int k) {
  RouterOptions o;
  o.kind = RoutingKind::kNoisyTopK;
  o.k = k;
  o.normalize = true;  // softmax over the kept noisy logits (Eq. 3)
  return o;
}

RouterOptions RouterOptions::expert_choice(double capacity_factor) {
  RouterOptions o;
  o.kind = RoutingKind::kExpertChoice;
  o.capacity_factor = capacity_factor;
  return o;
}

RouterOptions RouterOptions::hash(std::uint64_t seed) {
  RouterOptions o;
  o.kind = RoutingKind::kHash;
  o.k = 1;
  o.hash_seed = seed;
  return o;
}

RouterOptions RouterOptions::soft(int slots_per_expert) {
  RouterOptions o;
  o.kind = RoutingKind::kSoft;
  o.slots_per_expert = slots_per_expert;
  return o;
}

RouterOptions RouterOptions::deepseek_v3(int k) {
  RouterOptions o;
  o.kind = RoutingKind::kTopK;
  o.k = k;
  o.score = ScoreFunction::kSigmoid;
  o.normalize = true;
  o.balance_bias = true;
  o.bias_update_rate = 1e-3;
  return o;
}

Index hash_expert(std::int64_t token_id, std::uint64_t seed, Index num_experts) {
  // SplitMix64 of (seed, id): a fixed random function of the id, as the paper's "Random
  // Hash" (a random permutation table gives the same distribution over experts).
  const std::uint64_t z = derive_seed(seed, static_cast<std::uint64_t>(token_id));
  return static_cast<Index>(z % static_cast<std::uint64_t>(num_experts));
}

}  // namespace moekit::deep
