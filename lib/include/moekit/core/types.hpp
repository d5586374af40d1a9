#pragma once
// Value types shared by every part of moekit: column-major Eigen storage, one index type.

#include <Eigen/Core>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moekit {

using Index = Eigen::Index;
using Matrix = Eigen::MatrixXd;  // column-major: rows are observations
using Vector = Eigen::VectorXd;
using RowVector = Eigen::RowVectorXd;
using IndexVector = Eigen::Matrix<Index, Eigen::Dynamic, 1>;

using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;
using VectorRef = Eigen::Ref<Vector>;
using ConstVectorRef = Eigen::Ref<const Vector>;

// Named parameter arrays of a component (e.g. "mean", "covariance"), in a stable order.
// The JSON layer and `summary` read them; families never depend on JSON themselves.
using ParameterMap = std::map<std::string, Matrix>;

}  // namespace moekit
