// moekit._core.deep_train: the deep top-k layer on the synthetic piecewise-affine task of
// apps/examples/deep_train.cpp (the same configurations), returning the per-epoch records.

#include "moekit/core/error.hpp"
#include "moekit/deep/synthetic.hpp"
#include "moekit/deep/trainer.hpp"

#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

namespace py = pybind11;

namespace moekit::python {

namespace {

deep::MoeConfig deep_config(const std::string& routing,
                            bool balance,
                            int experts,
                            std::uint64_t seed) {
  using deep::RouterOptions;
  deep::MoeConfig c;
  c.dim = 8;
  c.hidden = 32;
  c.num_experts = experts;
  const double alpha = balance ? 0.5 : 0.0;  // Switch loss weight for an MSE task loss
  if (routing == "switch") {
    c.router = RouterOptions::switch_top1(0.0);
    c.aux.load_balance = alpha;
  } else if (routing == "mixtral") {
    c.router = RouterOptions::mixtral_top2();
    c.aux.load_balance = alpha;
  } else if (routing == "noisy") {
    c.router = RouterOptions::noisy_top_k(2);
    c.aux.importance = c.aux.load = alpha;
  } else if (routing == "expert_choice") {
    c.router = RouterOptions::expert_choice(2.0);
  } else if (routing == "hash") {
    c.router = RouterOptions::hash(seed);
  } else if (routing == "soft") {
    c.router = RouterOptions::soft(1);
  } else if (routing == "deepseek") {
    c.router = RouterOptions::deepseek_v3(2);
    c.router.balance_bias = balance;
    c.router.bias_update_rate = 0.01;
    c.num_shared_experts = 1;
  } else {
    throw InputError::option(
        "routing", routing,
        "must be switch, mixtral, noisy, expert_choice, hash, soft or deepseek");
  }
  return c;
}

py::list deep_train(
    const std::string& routing, bool balance, int experts, int epochs, std::uint64_t seed) {
  const deep::MoeConfig config = deep_config(routing, balance, experts, seed);
  std::vector<deep::EpochRecord> records;
  {
    py::gil_scoped_release release;
    const deep::PiecewiseTask task = deep::make_piecewise_task(4096, config.dim, 4, 1.0, seed);
    deep::MoeLayer layer(config);
    layer.init(seed);
    deep::TrainOptions opt;
    opt.epochs = epochs;
    opt.batch_tokens = 256;
    opt.adam.lr = 3e-3;
    opt.seed = seed;
    deep::Trainer trainer(layer, opt);
    records = trainer.fit(task.x, task.y);
  }
  py::list out;
  for (const auto& r : records) {
    py::dict d;
    d["epoch"] = r.epoch;
    d["loss"] = r.loss;
    d["aux_loss"] = r.aux_loss;
    d["load"] = r.load;
    d["imbalance"] = r.imbalance;
    d["dropped"] = r.dropped;
    out.append(d);
  }
  return out;
}

}  // namespace

void bind_deep(py::module_& m) {
  m.def("deep_train", &deep_train, py::arg("routing") = "switch", py::arg("balance") = true,
        py::arg("experts") = 4, py::arg("epochs") = 15, py::arg("seed") = 1,
        "Trains the deep top-k layer (apps/examples/deep_train.cpp's task and settings) and "
        "returns one record per epoch: loss, aux_loss, load per expert, imbalance (max/mean "
        "load), dropped");
}

}  // namespace moekit::python
