#pragma once
// Covariance structures of Gaussian-type experts: the 14 models of mclust (Celeux & Govaert
// 1995), Sigma_k = lambda_k D_k A_k D_k' with volume lambda_k, shape A_k (diagonal, det 1) and
// orientation D_k (orthogonal), each Equal across components, Variable, or the Identity. The
// six structures that predate the mclust table keep their scikit-learn names.

#include <string>
#include <vector>

namespace moekit {

enum class CovarianceStructure {
  Full,           // mclust VVV: one unrestricted covariance per component
  Diag,           // VVI: per-component diagonal
  Spherical,      // VII: per-component sigma^2 I
  TiedFull,       // EEE: one covariance shared by all components
  TiedDiag,       // EEI
  TiedSpherical,  // EII
  VEI,            // lambda_k A: diagonal, common shape
  EVI,            // lambda A_k: diagonal, common volume
  VEE,            // lambda_k D A D': common shape and orientation
  EVE,            // lambda D A_k D': common volume and orientation
  VVE,            // lambda_k D A_k D': common orientation
  EEV,            // lambda D_k A D_k': common volume and shape
  VEV,            // lambda_k D_k A D_k': common shape
  EVV,            // lambda D_k A_k D_k': common volume
};

std::string to_string(CovarianceStructure c);
// Accepts full, diag, spherical, tied-full (alias tied), tied-diag, tied-spherical and the
// 14 mclust names (EII ... VVV). InputError naming --covariance otherwise.
CovarianceStructure parse_covariance(const std::string& name);
std::string mclust_name(CovarianceStructure c);
// The 14 structures in mclust's order (mclust.options("emModelNames")): EII, VII, EEI, VEI,
// EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV.
const std::vector<CovarianceStructure>& mclust_structures();
// One matrix shared by every component (EII, EEI, EEE).
bool is_tied(CovarianceStructure c);
// Axis-aligned (orientation I: EII, VII, EEI, VEI, EVI, VVI).
bool is_diagonal(CovarianceStructure c);
// Spherical (shape I: EII, VII).
bool is_spherical(CovarianceStructure c);
// A structure whose components share some but not all of volume, shape and orientation: its
// M-step couples the components (VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV).
bool is_coupled(CovarianceStructure c);

// Free parameters of the covariance part for K components of dimension q (mclust's
// nVarParams: volume 1 or K, shape q - 1 or K (q - 1), orientation q (q - 1) / 2 or K times
// that; for EEE and VVV the counts of one or K unrestricted matrices).
long covariance_num_params(CovarianceStructure c, long K, long q);

}  // namespace moekit
