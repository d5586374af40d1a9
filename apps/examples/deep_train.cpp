// Trains a deep top-k MoE layer on a synthetic piecewise-affine task and prints, per epoch,
// the task loss and the expert load; run it with and without balancing to watch the load
// imbalance (max/mean load) fall.
//
//   deep_train [--routing switch|mixtral|noisy|expert_choice|hash|soft|deepseek]
//              [--balance on|off] [--experts E] [--epochs N] [--seed S]

#include "moekit/core/error.hpp"
#include "moekit/deep/synthetic.hpp"
#include "moekit/deep/trainer.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string>

using namespace moekit;
using namespace moekit::deep;

namespace {

struct Args {
  std::string routing = "switch";
  bool balance = true;
  int experts = 4, epochs = 15;
  std::uint64_t seed = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw InputError::option(flag, "", "needs a value");
    const std::string v = argv[++i];
    if (flag == "--routing")
      a.routing = v;
    else if (flag == "--balance") {
      if (v != "on" && v != "off") throw InputError::option(flag, v, "must be on or off");
      a.balance = v == "on";
    } else if (flag == "--experts")
      a.experts = std::stoi(v);
    else if (flag == "--epochs")
      a.epochs = std::stoi(v);
    else if (flag == "--seed")
      a.seed = std::stoull(v);
    else
      throw InputError::option(flag, v, "unknown flag");
  }
  return a;
}

MoeConfig make_config(const Args& a) {
  MoeConfig c;
  c.dim = 8;
  c.hidden = 32;
  c.num_experts = a.experts;
  const double alpha = a.balance ? 0.5 : 0.0;  // Switch loss weight for an MSE task loss
  if (a.routing == "switch") {
    c.router = RouterOptions::switch_top1(0.0);
    c.aux.load_balance = alpha;
  } else if (a.routing == "mixtral") {
    c.router = RouterOptions::mixtral_top2();
    c.aux.load_balance = alpha;
  } else if (a.routing == "noisy") {
    c.router = RouterOptions::noisy_top_k(2);
    c.aux.importance = c.aux.load = alpha;
  } else if (a.routing == "expert_choice") {
    c.router = RouterOptions::expert_choice(2.0);
  } else if (a.routing == "hash") {
    c.router = RouterOptions::hash(a.seed);
  } else if (a.routing == "soft") {
    c.router = RouterOptions::soft(1);
  } else if (a.routing == "deepseek") {
    c.router = RouterOptions::deepseek_v3(2);
    c.router.balance_bias = a.balance;
    c.router.bias_update_rate = 0.01;
    c.num_shared_experts = 1;
  } else {
    throw InputError::option(
        "--routing", a.routing,
        "must be switch, mixtral, noisy, expert_choice, hash, soft or deepseek");
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const MoeConfig config = make_config(a);
    const PiecewiseTask task = make_piecewise_task(4096, config.dim, 4, 1.0, a.seed);
    MoeLayer layer(config);
    layer.init(a.seed);
    TrainOptions opt;
    opt.epochs = a.epochs;
    opt.batch_tokens = 256;
    opt.adam.lr = 3e-3;
    opt.seed = a.seed;
    Trainer trainer(layer, opt);
    fmt::print("routing {} ({}), E = {}, balancing {}\n", a.routing, to_string(config.router.kind),
               config.num_experts, a.balance ? "on" : "off");
    fmt::print("{:>5} {:>10} {:>10} {:>9}  load per expert\n", "epoch", "loss", "aux", "max/mean");
    trainer.fit(task.x, task.y, [](const EpochRecord& r) {
      fmt::print("{:>5} {:>10.5f} {:>10.5f} {:>9.3f}  [", r.epoch, r.loss, r.aux_loss, r.imbalance);
      for (Index e = 0; e < r.load.size(); ++e) fmt::print("{}{:.3f}", e ? " " : "", r.load(e));
      fmt::print("]\n");
    });
    return 0;
  } catch (const InputError& e) {
    fmt::print(stderr, "deep_train: {}\n", e.what());
    return 1;
  } catch (const NumericalError& e) {
    fmt::print(stderr, "deep_train: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "deep_train: {}\n", e.what());
    return 1;
  }
}
