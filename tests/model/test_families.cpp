// The families' traits: what an expert costs in parameters is known before it is built.

#include "moekit/core/covariance.hpp"
#include "moekit/core/error.hpp"
#include "moekit/model/families.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace moekit;

TEST_CASE("expert_num_params counts what one built expert has", "[families]") {
  for (const std::string& family : expert_family_names())
    for (const char* cov : {"full", "diag", "spherical", "tied-full", "tied-diag", "tied-spherical",
                            "VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"})
      for (Index q : {1, 2, 3})
        for (Index p : {1, 4})
          for (double df : {0.0, 4.0}) {
            // The response dimensions each family models: binomial successes and failures,
            // one column for logistic, Laplace, Poisson, negative binomial and Gamma experts.
            const bool one = family == "logistic" || family == "laplace" || family == "poisson" ||
                             family == "negbin" || family == "gamma";
            if (family == "binomial" ? q != 2 : (q == 2 || (one && q != 1))) continue;
            if (df != 0.0 && family != "t") continue;
            INFO(family << " " << cov << " q=" << q << " p=" << p << " df=" << df);
            ModelSpec spec;
            spec.experts = family;
            spec.K = 1;
            spec.covariance = parse_covariance(cov);
            spec.df = df;
            spec.data.categorical_response = expert_family(family).categorical_response;
            spec.data.response_levels = {"a", "b", "c"};
            spec.data.x_names.assign(static_cast<size_t>(p), "x");
            CHECK(expert_num_params(spec, q, p) == make_experts(spec, q, p)->num_params());
          }
}

TEST_CASE("more parameters in one expert than rows is an input error", "[families][errors]") {
  ModelSpec spec;
  spec.experts = "gaussian";
  spec.covariance = CovarianceStructure::Diag;
  Dataset data;
  data.y = Matrix::Ones(5, 3);  // one expert: 3 means and 3 variances
  data.x = Matrix::Ones(5, 1);
  data.source = "d.csv";
  CHECK_THROWS_WITH(check_rows_for_experts(spec, data),
                    Catch::Matchers::Contains("d.csv") &&
                        Catch::Matchers::Contains("6 parameters") &&
                        Catch::Matchers::Contains("5 rows"));
  data.y = Matrix::Ones(6, 3);
  data.x = Matrix::Ones(6, 1);
  CHECK_NOTHROW(check_rows_for_experts(spec, data));
}
