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
  }
  return "full";
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
  }
  return "VVV";
}

CovarianceStructure parse_covariance(const std::string& s) {
  if (s == "full" || s == "VVV") return CovarianceStructure::Full;
  if (s == "diag" || s == "VVI") return CovarianceStructure::Diag;
  if (s == "spherical" || s == "VII") return CovarianceStructure::Spherical;
  if (s == "tied-full" || s == "tied" || s == "EEE") return CovarianceStructure::TiedFull;
  if (s == "tied-diag" || s == "EEI") return CovarianceStructure::TiedDiag;
  if (s == "tied-spherical" || s == "EII") return CovarianceStructure::TiedSpherical;
  throw InputError::option("--covariance", s,
                           "must be full, diag, spherical, tied-full, tied-diag or tied-spherical "
                           "(or VVV, VVI, VII, EEE, EEI, EII)");
}

bool is_tied(CovarianceStructure c) {
  return c == CovarianceStructure::TiedFull || c == CovarianceStructure::TiedDiag ||
         c == CovarianceStructure::TiedSpherical;
}

long covariance_num_params(CovarianceStructure c, long K, long q) {
  switch (c) {
    case CovarianceStructure::Full:
      return K * q * (q + 1) / 2;
    case CovarianceStructure::Diag:
      return K * q;
    case CovarianceStructure::Spherical:
      return K;
    case CovarianceStructure::TiedFull:
      return q * (q + 1) / 2;
    case CovarianceStructure::TiedDiag:
      return q;
    case CovarianceStructure::TiedSpherical:
      return 1;
  }
  return 0;
}

}  // namespace moekit
