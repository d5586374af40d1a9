#include "expert_gemm.hpp"

#include "moekit/core/sgemm.hpp"

namespace moekit::deep::detail {

namespace {

template <typename A, typename B, typename C>
void assign_product(const A& a, const B& b, C& c, bool accumulate) {
  if (accumulate)
    c.noalias() += a * b;
  else
    c.noalias() = a * b;
}

}  // namespace

template <>
void expert_gemm<float>(const ConstMatrixRefT<float>& a,
                        Op op_a,
                        const ConstMatrixRefT<float>& b,
                        Op op_b,
                        MatrixRefT<float> c,
                        bool accumulate) {
  SgemmOperand sa = sgemm_operand(a), sb = sgemm_operand(b);
  if (op_a == Op::kTranspose) sa = sa.transposed();
  if (op_b == Op::kTranspose) sb = sb.transposed();
  sgemm(sa, sb, c, accumulate);
}

template <>
void expert_gemm<double>(const ConstMatrixRefT<double>& a,
                         Op op_a,
                         const ConstMatrixRefT<double>& b,
                         Op op_b,
                         MatrixRefT<double> c,
                         bool accumulate) {
  const bool ta = op_a == Op::kTranspose, tb = op_b == Op::kTranspose;
  if (ta && tb)
    assign_product(a.transpose(), b.transpose(), c, accumulate);
  else if (ta)
    assign_product(a.transpose(), b, c, accumulate);
  else if (tb)
    assign_product(a, b.transpose(), c, accumulate);
  else
    assign_product(a, b, c, accumulate);
}

}  // namespace moekit::deep::detail
