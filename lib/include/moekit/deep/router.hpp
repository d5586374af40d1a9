#pragma once
// Router options: which routing kind a MoE layer uses and its settings. The math of every
// kind, with its paper, is in docs/deep.md; a summary per field is below. Presets return the
// settings of the paper they are named after.

#include "moekit/core/types.hpp"

#include <cstdint>
#include <string>

namespace moekit::deep {

enum class RoutingKind {
  // Token choice: scores s = score(x Wg) over E experts, each token takes its k best
  // (by s + bias). Switch (k = 1, Fedus et al. 2022), GShard/Mixtral (k = 2), DeepSeek-V3.
  kTopK,
  // Shazeer et al. 2017, Eq. 3-5: H = x Wg + eps * softplus(x Wnoise), eps ~ N(0, 1) when
  // training; G = softmax(KeepTopK(H, k)).
  kNoisyTopK,
  // Zhou et al. 2022: S = softmax(x Wg) over experts; expert e takes its c best tokens by
  // S[:, e], c = ceil(capacity_factor * T / E); weight S[t, e].
  kExpertChoice,
  // Roller et al. 2021: expert = hash(token id) mod E, weight 1, no router parameters.
  kHash,
  // Puigcerver et al. 2023: slots are softmax(over tokens) mixtures of tokens, outputs are
  // softmax(over slots) mixtures of slot outputs; no token is dropped.
  kSoft,
};

enum class ScoreFunction {
  kSoftmax,  // s = softmax(z) over the E experts (Switch, Mixtral, Shazeer, expert choice)
  kSigmoid,  // s = sigmoid(z) per expert (DeepSeek-V3 affinities)
};

RoutingKind parse_routing_kind(const std::string& name);  // topk|noisy_topk|expert_choice|hash|soft
std::string to_string(RoutingKind kind);

struct RouterOptions {
  RoutingKind kind = RoutingKind::kTopK;
  // Experts per token (token choice, noisy top-k, hash uses 1).
  int k = 2;
  // Token choice: true renormalises the k selected scores to sum to 1 (Mixtral: top-k then
  // softmax over the selected logits; DeepSeek-V3: s / sum of selected s); false keeps the
  // raw scores (Switch k = 1: softmax before top-k; GShard). With k = 1 and softmax scores,
  // renormalising makes every weight 1 and the router receives no gradient from the output.
  bool normalize = true;
  ScoreFunction score = ScoreFunction::kSoftmax;
  // Token choice and hash: expert capacity C = ceil(capacity_factor * k * T / E); pairs past
  // C in an expert's bucket are dropped (first choices are placed before second choices).
  // 0 (the default) is dropless. Expert choice: c = ceil(capacity_factor * T / E) tokens per
  // expert (Zhou et al. use 2, the default there); capped at T.
  double capacity_factor = 0.0;
  // DeepSeek-V3 auxiliary-loss-free balancing: a per-expert bias added to the scores for the
  // top-k selection only (never to the weights), moved by +-bias_update_rate after each step
  // against the expert's load (Wang et al. 2024; DeepSeek-V3 uses 0.001).
  bool balance_bias = false;
  double bias_update_rate = 1e-3;
  // Soft MoE: slots per expert (Puigcerver et al. 2023 use 1 or more; default 1).
  int slots_per_expert = 1;
  // Hash routing: seed of the fixed random hash of token ids.
  std::uint64_t hash_seed = 0;

  // Presets.
  static RouterOptions switch_top1(double capacity_factor = 1.25);   // Fedus et al. 2022
  static RouterOptions mixtral_top2();                               // Jiang et al. 2024
  static RouterOptions noisy_top_k(int k);                           // Shazeer et al. 2017
  static RouterOptions expert_choice(double capacity_factor = 2.0);  // Zhou et al. 2022
  static RouterOptions hash(std::uint64_t seed = 0);                 // Roller et al. 2021
  static RouterOptions soft(int slots_per_expert = 1);               // Puigcerver et al. 2023
  static RouterOptions deepseek_v3(int k);                           // DeepSeek-AI 2024
};

// The fixed random hash of Roller et al. 2021 ("Random Hash"): token id -> expert.
Index hash_expert(std::int64_t token_id, std::uint64_t seed, Index num_experts);

}  // namespace moekit::deep
