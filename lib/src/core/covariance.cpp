#include "moekit/core/covariance.hpp"

#include "moekit/core/error.hpp"

namespace moekit {

std::string to_string(CovarianceStructure c) {
  switch (c) {
    case CovarianceStructure::Full:
      return "full";
    case CovarianceStructure::Diag:
      return "diag";
    case CovarianceStructure::Spherical:
      return "spherical";
    case CovarianceStructure::TiedFull:
      return "tied-full";
    case CovarianceStructure::TiedDiag:
      return "tied-diag";
    case CovarianceStructure::TiedSpherical:
      return "tied-spherical";
    default:
      return mclust_name(c);
  }
}

std::string mclust_name(CovarianceStructure c) {
  switch (c) {
    case CovarianceStructure::Full:
      return "VVV";
    case CovarianceStructure::Diag:
      return "VVI";
    case CovarianceStructure::Spherical:
      return "VII";
    case CovarianceStructure::TiedFull:
      return "EEE";
    case CovarianceStructure::TiedDiag:
      return "EEI";
    case CovarianceStructure::TiedSpherical:
      return "EII";
    case CovarianceStructure::VEI:
      return "VEI";
    case CovarianceStructure::EVI:
      return "EVI";
    case CovarianceStructure::VEE:
      return "VEE";
    case CovarianceStructure::EVE:
      return "EVE";
    case CovarianceStructure::VVE:
      return "VVE";
    case CovarianceStructure::EEV:
      return "EEV";
    case CovarianceStructure::VEV:
      return "VEV";
    case CovarianceStructure::EVV:
      return "EVV";
  }
  return "VVV";
}

const std::vector<CovarianceStructure>& mclust_structures() {
  using C = CovarianceStructure;
  static const std::vector<C> all{C::TiedSpherical, C::Spherical, C::TiedDiag, C::VEI, C::EVI,
                                  C::Diag,          C::TiedFull,  C::VEE,      C::EVE, C::VVE,
                                  C::EEV,           C::VEV,       C::EVV,      C::Full};
  return all;
}

CovarianceStructure parse_covariance(const std::string& s) {
  if (s == "full") return CovarianceStructure::Full;
  if (s == "diag") return CovarianceStructure::Diag;
  if (s == "spherical") return CovarianceStructure::Spherical;
  if (s == "tied-full" || s == "tied") return CovarianceStructure::TiedFull;
  if (s == "tied-diag") return CovarianceStructure::TiedDiag;
  if (s == "tied-spherical") return CovarianceStructure::TiedSpherical;
  for (CovarianceStructure c : mclust_structures())
    if (s == mclust_name(c)) return c;
  throw InputError::option("--covariance", s,
                           "must be one of mclust's EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, "
                           "VVE, EEV, VEV, EVV, VVV, or full (VVV), diag (VVI), spherical (VII), "
                           "tied-full (EEE), tied-diag (EEI), tied-spherical (EII)");
}

bool is_tied(CovarianceStructure c) {
  return c == CovarianceStructure::TiedFull || c == CovarianceStructure::TiedDiag ||
         c == CovarianceStructure::TiedSpherical;
}

bool is_diagonal(CovarianceStructure c) { return mclust_name(c)[2] == 'I'; }
bool is_spherical(CovarianceStructure c) { return mclust_name(c)[1] == 'I'; }

bool is_coupled(CovarianceStructure c) {
  return !is_tied(c) && c != CovarianceStructure::Full && c != CovarianceStructure::Diag &&
         c != CovarianceStructure::Spherical;
}

long covariance_num_params(CovarianceStructure c, long K, long q) {
  const std::string m = mclust_name(c);
  const long volume = m[0] == 'E' ? 1 : K;
  if (m == "VVV") return K * q * (q + 1) / 2;
  if (m == "EEE") return q * (q + 1) / 2;
  // Shape: q - 1 free diagonal entries (det A = 1); identity: none.
  const long shape = m[1] == 'I' ? 0 : m[1] == 'E' ? q - 1 : K * (q - 1);
  const long orientation = m[2] == 'I' ? 0 : m[2] == 'E' ? q * (q - 1) / 2 : K * q * (q - 1) / 2;
  return volume + shape + orientation;
}

}  // namespace moekit
