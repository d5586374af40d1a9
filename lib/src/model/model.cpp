#include "moekit/model/model.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/logsumexp.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/experts/gaussian_regression.hpp"
#include "moekit/kernels/dispatch.hpp"
#include "moekit/kernels/row_math.hpp"
#include "moekit/model/families.hpp"
#include "moekit/model/gaussian_mixture_estep.hpp"
#include "moekit/model/regression_estep.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace moekit {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Calls f(Z, H) with the rows the gates see: every row, or with grouped data one row per
// group (the gate term enters the complete-data likelihood once per group).
// With weights the gates take the posteriors times the row weights: soft targets whose rows
// sum to w_i (one weight per group with grouped data).
template <typename F>
void with_gate_rows(const Dataset& data, const Posteriors& post, F f) {
  if (!data.grouped()) {
    if (!data.weighted()) {
      f(ConstMatrixRef(data.z), ConstMatrixRef(post.nodes));
      return;
    }
    const Matrix hw = weighted_rows(data, post.nodes);
    f(ConstMatrixRef(data.z), ConstMatrixRef(hw));
    return;
  }
  const Matrix zg = group_rows(data, data.z),
               hg = group_rows(data, weighted_rows(data, post.nodes));
  f(ConstMatrixRef(zg), ConstMatrixRef(hg));
}
}  // namespace

void ModelSpec::set_shape(const TreeShape& shape) {
  K = shape.leaves();
  tree = shape.is_flat() ? std::vector<Index>{} : shape.branching();
}

void ModelSpec::validate() const {
  if (K < 1) throw InputError::option("-k", std::to_string(K), "must be >= 1");
  if (!tree.empty() && shape().leaves() != K)
    throw InputError::option("--tree", shape().to_string(),
                             fmt::format("has {} leaves but K is {}", shape().leaves(), K));
  expert_family(experts);
  gate_kind(gate);
  if (!(reg_covar >= 0) || !std::isfinite(reg_covar))
    throw InputError::option("--reg-covar", fmt::format("{}", reg_covar),
                             "must be finite and >= 0");
  if (!(collapse_tol >= 0) || !(collapse_tol < 1))
    throw InputError::option("--collapse-tol", fmt::format("{}", collapse_tol),
                             "must be in [0, 1)");
  if (!(gate_ridge >= 0) || !std::isfinite(gate_ridge))
    throw InputError::option("--gate-ridge", fmt::format("{}", gate_ridge),
                             "must be finite and >= 0");
  if (!(df >= 0) || !std::isfinite(df))
    throw InputError::option("--df", fmt::format("{}", df),
                             "must be finite and > 0 (or 0: estimate nu)");
}

Model::Model(const ModelSpec& spec, Index q, Index p, Index r) : spec_(spec), shape_(spec.shape()) {
  spec_.set_shape(shape_);
  experts_ = make_experts(spec_, q, p);
  for (Index v = 0; v < shape_.inner_nodes(); ++v) {
    gates_.push_back(make_gate(spec_, shape_.children(v), r));
    joint_ = joint_ || gates_.back()->joint();
  }
}

Model::Model(const Model& other)
    : spec_(other.spec_),
      shape_(other.shape_),
      experts_(other.experts_ ? other.experts_->clone() : nullptr),
      joint_(other.joint_) {
  for (const auto& g : other.gates_) gates_.push_back(g->clone());
}

Model& Model::operator=(const Model& other) {
  if (this != &other) {
    Model copy(other);
    *this = std::move(copy);
  }
  return *this;
}

bool Model::gates_read_covariates() const {
  for (const auto& g : gates_)
    if (g->reads_covariates()) return true;
  return false;
}

void Model::check_gate_covariates(const ConstMatrixRef& z, const std::string& source) const {
  // Every gate reads the same covariates: one check per kind is enough.
  std::vector<std::string> checked;
  for (const auto& g : gates_) {
    if (std::find(checked.begin(), checked.end(), g->kind()) != checked.end()) continue;
    checked.push_back(g->kind());
    g->check_covariates(z, spec_.data.z_names, source);
  }
}

void Model::check_data(const Dataset& data, bool check_spread) const {
  if (data.rows() < components())
    throw InputError(
        fmt::format("{} rows cannot be split into {} components", data.rows(), components()));
  check_rows_for_experts(spec_, data);
  if (const auto bad = experts_->invalid_response_row(data.y))
    throw InputError(fmt::format("{}: line {}: {} experts need {}; the response there is {}",
                                 data.source, data.line_of(*bad), experts_->family(),
                                 experts_->response_rule(), data.y(*bad, 0)));
  if (gates_.empty()) return;
  if (check_spread) check_gate_covariates(data.z, data.source);
  if (joint_) {
    // A gate that models z as Gaussian needs numbers, not the dummy columns of a factor.
    for (const auto& name : spec_.data.z_names)
      for (const auto& [factor, levels] : spec_.data.factor_levels)
        for (const auto& level : levels)
          if (name == factor + level || name.rfind(factor + level + ":", 0) == 0 ||
              name.find(":" + factor + level) != std::string::npos)
            throw InputError::option(
                "--gate-formula",
                spec_.data.gate_formula.empty() ? spec_.data.formula : spec_.data.gate_formula,
                fmt::format("the gaussian gate needs numeric covariates; '{}' is a column of "
                            "the factor '{}'",
                            name, factor));
  }
  // A gate that reads covariates needs them constant within each group (flexmix's rule for
  // concomitant variables of grouped data).
  if (!data.grouped() || !gates_read_covariates()) return;
  for (Index i = 0; i < data.rows(); ++i) {
    const Index first = data.group_first[static_cast<size_t>(data.group[static_cast<size_t>(i)])];
    if (data.z.row(i) != data.z.row(first))
      throw InputError(fmt::format(
          "{}: the gate covariates differ between the rows on lines {} and {} of one group; "
          "with grouped data ('| {}') the gate needs covariates that are constant within a group",
          data.source, data.line_of(first), data.line_of(i),
          data.group_column.empty() ? "g" : data.group_column));
  }
}

void Model::tree_pass(const ConstMatrixRef& z,
                      MatrixRef nodes,
                      VectorRef row_loglik,
                      VectorRef row_objective) const {
  // Upward pass (Jordan & Jacobs 1994, eq. 20): the log-likelihood of an inner node v is
  // L_v = log sum_c w_vc exp(L_c) over its children; a child's column then keeps
  // a_c = log w_vc + L_c - L_v, the log posterior of the branch given its parent. The
  // downward pass adds these along each path: log h_c = log h_parent + a_c (eq. 21).
  // With gates that model z, w are the joint weights; the conditional log-likelihood
  // then takes a second upward pass with the normalised weights.
  const Index b = z.rows(), D = shape_.depth(), K = components();
  thread_local Matrix lw, cond, lg;
  thread_local Vector L, lse;
  L.resize(b);
  if (joint_) {
    cond.resize(b, nodes.cols());
    cond.rightCols(K) = nodes.rightCols(K);
  }
  for (Index d = D - 1; d >= 0; --d) {
    const Index bd = shape_.branching()[static_cast<size_t>(d)];
    for (Index v = shape_.level_first(d); v < shape_.level_first(d) + shape_.level_size(d); ++v) {
      const Index c0 = shape_.first_child(v) - 1;
      lw.resize(b, bd);
      gates_[static_cast<size_t>(v)]->log_joint_weights(z, lw);
      if (joint_) {
        lg = lw;
        lse.resize(b);
        normalize_rows_log(lg, lse);
        lg += cond.middleCols(c0, bd);
        if (v == 0) {
          row_log_sum_exp(lg, row_loglik);
        } else {
          row_log_sum_exp(lg, lse);
          cond.col(v - 1) = lse;
        }
      }
      lw += nodes.middleCols(c0, bd);
      row_log_sum_exp(lw, L);
      for (Index c = 0; c < bd; ++c) {
        auto a = nodes.col(c0 + c);
        for (Index i = 0; i < b; ++i) a(i) = L(i) == kNegInf ? kNegInf : lw(i, c) - L(i);
      }
      if (v == 0)
        row_objective = L;
      else
        nodes.col(v - 1) = L;
    }
  }
  for (Index d = 2; d <= D; ++d)
    for (Index u = shape_.level_first(d); u < shape_.level_first(d) + shape_.level_size(d); ++u)
      nodes.col(u - 1) += nodes.col(shape_.parent(u) - 1);
  nodes.array() = nodes.array().exp();
  if (!joint_) row_loglik = row_objective;
}

bool Model::export_flat_pack(kernels::FlatModelStorage& out, std::string* why_not) const {
  auto refuse = [&](std::string why) {
    if (why_not) *why_not = std::move(why);
    return false;
  };
  if (!shape_.is_flat())
    return refuse(
        fmt::format("the gating tree {} (the kernels take one gate)", shape_.to_string()));
  const GaussianRegression* g = experts_->gaussian_regression();
  if (!g) return refuse(fmt::format("{} experts", experts_->family()));
  if (joint_ || !gates_[0]->export_pack(out.gate))
    return refuse(fmt::format("the {} gate", gates_[0]->kind()));
  g->export_pack(out.experts);
  if (out.experts.q > kernels::kMaxResponseDim)
    return refuse(fmt::format("{} responses (the kernels take at most {})", out.experts.q,
                              kernels::kMaxResponseDim));
  if (out.experts.K > kernels::kMaxExperts)
    return refuse(
        fmt::format("K = {} (the kernels take at most {})", out.experts.K, kernels::kMaxExperts));
  if (out.experts.p > kernels::kMaxDesignDim)
    return refuse(fmt::format("{} design columns (the kernels take at most {})", out.experts.p,
                              kernels::kMaxDesignDim));
  return true;
}

void Model::e_step(const Dataset& data, Posteriors& out) const {
  const Index n = data.rows(), K = components(), M = shape_.nodes() - 1;
  out.leaf_count = K;
  out.nodes.resize(n, M);
  out.row_loglik.resize(n);
  auto experts_block = [&](Index begin, Index size) {
    auto H = out.nodes.middleRows(begin, size);
    experts_->log_density(data.x.middleRows(begin, size), data.y.middleRows(begin, size),
                          H.rightCols(K));
  };
  if (data.grouped()) {
    // Every row of a group shares one leaf, so the group's posterior is proportional to
    // the tree's weight of the leaf times prod_{i in g} p_k(y_i | x_i) (flexmix's grouped
    // E-step; z is constant within a group): the tree passes run on one row per group.
    parallel_blocks(n, [&](Index, Index begin, Index size) { experts_block(begin, size); });
    const Index G = data.groups();
    Matrix S = Matrix::Zero(G, M);
    for (Index i = 0; i < n; ++i)
      S.row(data.group[static_cast<size_t>(i)]).tail(K) += out.nodes.row(i).tail(K);
    Vector ll(G), obj(G);
    tree_pass(group_rows(data, data.z), S, ll, obj);
    out.loglik = out.objective = 0.0;
    for (Index g = 0; g < G; ++g) {
      if ((!std::isfinite(obj(g)) || !std::isfinite(ll(g))) &&
          data.weight(data.group_first[static_cast<size_t>(g)]) != 0.0) {
        const Index r = data.group_first[static_cast<size_t>(g)];
        throw NumericalError(fmt::format(
            "E-step: the group whose first row is on line {} has zero or non-finite density "
            "under every component (log-likelihood not finite)",
            data.line_of(r)));
      }
      const double w = data.weight(data.group_first[static_cast<size_t>(g)]);
      if (w == 0.0) continue;
      out.loglik += w * ll(g);  // group order: independent of the thread count
      out.objective += w * obj(g);
    }
    for (Index i = 0; i < n; ++i) {
      const Index g = data.group[static_cast<size_t>(i)];
      out.nodes.row(i) = S.row(g);
      out.row_loglik(i) = ll(g);
    }
    out.leaf_masses = weighted_column_sums(data, out.leaves());
    out.moments.reset();
    out.shares = nullptr;
    return;
  }
  if (gaussian_mixture_estep(*this, data, out) || linear_regression_estep(*this, data, out)) return;
  const auto blocks = static_cast<size_t>(num_blocks(n));
  std::vector<double> block_loglik(blocks, 0.0), block_objective(blocks, 0.0);
  std::vector<Index> bad_row(blocks, -1);
  // Each block's (weighted) leaf masses, summed while its posteriors are in cache and added
  // in block order below: a serial pass over the n x K posteriors after the parallel region
  // left the second thread idle for a twentieth of a Laplace-expert iteration.
  Matrix block_masses(K, static_cast<Index>(blocks));
  auto add_block_masses = [&](Index b, Index begin, Index size) {
    const auto leaves = out.nodes.middleRows(begin, size).rightCols(K);
    if (data.weighted())
      block_masses.col(b).noalias() = leaves.transpose() * data.weights.segment(begin, size);
    else
      block_masses.col(b) = leaves.colwise().sum().transpose();
  };
  kernels::FlatModelStorage pack;
  if (export_flat_pack(pack)) {
    // The per-row kernels the GPU backend runs too (kernels/row_math.hpp).
    const kernels::FlatModelPack<double> P = pack.view();
    kernels::with_response_dim(P.experts.q, [&](auto Q) {
      constexpr int q_fixed = decltype(Q)::value;
      parallel_blocks(n, [&](Index b, Index begin, Index size) {
        constexpr int R = 8;  // rows per call: the loops over them vectorise
        double a[kernels::kMaxExperts * R], ll[R];
        const long ldx = static_cast<long>(data.x.outerStride()),
                   ldy = static_cast<long>(data.y.outerStride()),
                   ldz = static_cast<long>(data.z.outerStride());
        auto rows = [&](Index i, auto width) {
          constexpr int W = decltype(width)::value;
          kernels::flat_estep_rows<q_fixed, W>(P, data.x.data() + i, ldx, data.y.data() + i, ldy,
                                               data.z.data() + i, ldz, a, ll);
          for (Index k = 0; k < K; ++k)
            for (int r = 0; r < W; ++r) out.nodes(i + r, k) = a[k * W + r];
          for (int r = 0; r < W; ++r) out.row_loglik(i + r) = ll[r];
        };
        Index i = begin;
        for (; i + R <= begin + size; i += R) rows(i, std::integral_constant<int, R>{});
        for (; i < begin + size; ++i) rows(i, std::integral_constant<int, 1>{});
        double sum = 0.0;
        for (Index j = begin; j < begin + size; ++j) {
          const double v = out.row_loglik(j), w = data.weight(j);
          if (w == 0.0) continue;
          if (!std::isfinite(v)) {
            if (bad_row[static_cast<size_t>(b)] < 0) bad_row[static_cast<size_t>(b)] = j;
            continue;
          }
          sum += w * v;
        }
        block_loglik[static_cast<size_t>(b)] = sum;
        block_objective[static_cast<size_t>(b)] = sum;
        add_block_masses(b, begin, size);
      });
    });
  } else {
    parallel_blocks(n, [&](Index b, Index begin, Index size) {
      experts_block(begin, size);
      thread_local Vector obj;
      obj.resize(size);
      auto ll = out.row_loglik.segment(begin, size);
      tree_pass(data.z.middleRows(begin, size), out.nodes.middleRows(begin, size), ll, obj);
      double sum = 0.0, sum_obj = 0.0;
      for (Index i = 0; i < size; ++i) {
        const double w = data.weight(begin + i);
        if (w == 0.0) continue;
        if (!std::isfinite(ll(i)) || !std::isfinite(obj(i))) {
          if (bad_row[static_cast<size_t>(b)] < 0) bad_row[static_cast<size_t>(b)] = begin + i;
          continue;
        }
        sum += w * ll(i);
        sum_obj += w * obj(i);
      }
      block_loglik[static_cast<size_t>(b)] = sum;
      block_objective[static_cast<size_t>(b)] = sum_obj;
      add_block_masses(b, begin, size);
    });
  }
  for (Index r : bad_row)
    if (r >= 0)
      throw NumericalError(
          fmt::format("E-step: the row on line {} has zero or non-finite density under every "
                      "component (log-likelihood not finite)",
                      data.line_of(r)));
  out.loglik = out.objective = 0.0;
  for (size_t b = 0; b < blocks; ++b) {  // block order: independent of the thread count
    out.loglik += block_loglik[b];
    out.objective += block_objective[b];
  }
  out.leaf_masses = Vector::Zero(K);
  for (Index b = 0; b < block_masses.cols(); ++b) out.leaf_masses += block_masses.col(b);
  out.moments.reset();
  out.shares = nullptr;
}

Posteriors Model::posteriors_from_leaves(const ConstMatrixRef& leaves) const {
  Posteriors p;
  p.leaf_count = components();
  p.nodes.resize(leaves.rows(), shape_.nodes() - 1);
  p.leaves() = leaves;
  p.leaf_masses = leaves.colwise().sum().transpose();
  for (Index d = shape_.depth() - 1; d >= 1; --d)
    for (Index v = shape_.level_first(d); v < shape_.level_first(d) + shape_.level_size(d); ++v)
      p.nodes.col(v - 1) =
          p.nodes.middleCols(shape_.first_child(v) - 1, shape_.children(v)).rowwise().sum();
  return p;
}

MStepReport Model::m_step(const Dataset& data, const Posteriors& post) {
  // Rows shared among processes: the iterative M-steps sum over all of them.
  const ScopedProcessSums shares(post.shares);
  MStepReport report;
  if (post.moments) {
    GaussianRegression* g = experts_->gaussian_regression();
    if (!g) throw Error("Model::m_step: moments given for experts that have none");
    report = g->fit_moments(*post.moments);
  } else if (data.weighted()) {
    report = experts_->fit(data.x, data.y, weighted_rows(data, post.leaves()));
  } else {
    report = experts_->fit(data.x, data.y, post.leaves());
  }
  if (!post.has_rows()) {
    // The rows stayed on a device: only gates that need no more than the leaf masses.
    if (!shape_.is_flat() || !gates_[0]->fit_masses(post.leaf_masses))
      throw Error("Model::m_step: the gates need the posterior rows");
    return report;
  }
  // The E-step that gave the moments summed the (weighted) posteriors of every row too: a
  // gate that needs no more than those takes them rather than another pass over the rows.
  // So does one after any E-step on unweighted rows (Model::e_step sums the leaf masses per
  // block; posteriors_from_leaves sums them too), where that pass was a serial step of
  // every M-step.
  if ((post.moments || !data.weighted()) && shape_.is_flat() && !data.grouped() &&
      post.leaf_masses.size() == experts_->components() && gates_[0]->fit_masses(post.leaf_masses))
    return report;
  // Jordan & Jacobs (1994), eq. 32: each gate is a weighted multinomial fit of its
  // children's posteriors (for a gate below the root they sum to its own node's).
  with_gate_rows(data, post, [&](const ConstMatrixRef& Z, const ConstMatrixRef& H) {
    for (Index v = 0; v < num_gates(); ++v) {
      const auto targets = H.middleCols(shape_.first_child(v) - 1, shape_.children(v));
      for (auto& w : gates_[static_cast<size_t>(v)]->fit(Z, targets))
        report.warnings.push_back(shape_.is_flat() ? w
                                  : v == 0         ? "root " + w
                                                   : "node " + shape_.node_path(v) + " " + w);
    }
  });
  return report;
}

void Model::reseed_leaf(Index k, const Dataset& data, Index row) {
  experts_->reseed(k, data.x, data.y, row);
  const Index node = shape_.leaf_node(k), parent = shape_.parent(node);
  gates_[static_cast<size_t>(parent)]->reset_component(node - shape_.first_child(parent));
}

Matrix Model::node_weights(const ConstMatrixRef& z) const {
  const Index n = z.rows();
  Matrix out(n, shape_.nodes() - 1);
  parallel_blocks(n, [&](Index, Index begin, Index size) {
    auto H = out.middleRows(begin, size);
    const auto zb = z.middleRows(begin, size);
    for (Index v = 0; v < num_gates(); ++v) {
      auto children = H.middleCols(shape_.first_child(v) - 1, shape_.children(v));
      gates_[static_cast<size_t>(v)]->log_weights(zb, children);
      if (v > 0) children.colwise() += H.col(v - 1);
    }
    H.array() = H.array().exp();
  });
  return out;
}

Matrix Model::leaf_weights(const ConstMatrixRef& z) const {
  return node_weights(z).rightCols(components());
}

Index Model::num_params() const {
  Index p = experts_->num_params();
  for (const auto& g : gates_) p += g->num_params();
  return p;
}

Vector Model::parameters() const {
  Vector theta(num_params());
  Index pos = 0;
  for (const auto& g : gates_) {
    const Vector t = g->parameters();
    theta.segment(pos, t.size()) = t;
    pos += t.size();
  }
  theta.tail(theta.size() - pos) = experts_->parameters();
  return theta;
}

void Model::set_parameters(const ConstVectorRef& theta) {
  if (theta.size() != num_params()) throw Error("Model::set_parameters: wrong length");
  Index pos = 0;
  for (auto& g : gates_) {
    g->set_parameters(theta.segment(pos, g->num_params()));
    pos += g->num_params();
  }
  experts_->set_parameters(theta.tail(theta.size() - pos));
}

double Model::loglik_and_score(const Dataset& data, Vector& score) const {
  Posteriors post;
  e_step(data, post);
  score.resize(num_params());
  Index pos = 0;
  with_gate_rows(data, post, [&](const ConstMatrixRef& Z, const ConstMatrixRef& H) {
    for (Index v = 0; v < num_gates(); ++v) {
      const Gate& g = *gates_[static_cast<size_t>(v)];
      const Vector s = g.score(Z, H.middleCols(shape_.first_child(v) - 1, shape_.children(v)));
      score.segment(pos, s.size()) = s;
      pos += s.size();
    }
  });
  score.tail(score.size() - pos) =
      experts_->score(data.x, data.y, weighted_rows(data, post.leaves()));
  return post.objective;
}

}  // namespace moekit
