#pragma once
// Covariance structures of Gaussian-type experts, named as in scikit-learn, with mclust's
// model names for reference.

#include <string>

namespace moekit {

enum class CovarianceStructure {
  Full,           // mclust VVV: one unrestricted covariance per component
  Diag,           // VVI: per-component diagonal
  Spherical,      // VII: per-component sigma^2 I
  TiedFull,       // EEE: one covariance shared by all components
  TiedDiag,       // EEI
  TiedSpherical,  // EII
};

std::string to_string(CovarianceStructure c);
// Accepts full, diag, spherical, tied-full (alias tied), tied-diag, tied-spherical and the
// mclust names VVV, VVI, VII, EEE, EEI, EII. InputError naming --covariance otherwise.
CovarianceStructure parse_covariance(const std::string& name);
std::string mclust_name(CovarianceStructure c);
bool is_tied(CovarianceStructure c);

// Free parameters of the covariance part for K components of dimension q.
long covariance_num_params(CovarianceStructure c, long K, long q);

}  // namespace moekit
