// A user's program linking moekit: fit a Gaussian mixture to a CSV file.
#include <moekit/data/csv.hpp>
#include <moekit/data/dataset.hpp>
#include <moekit/fit/em.hpp>

#include <cmath>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 1;
  const moekit::CsvTable table = moekit::read_csv(argv[1]);
  moekit::ModelSpec spec;
  spec.K = 2;
  const moekit::Dataset data = moekit::make_dataset(table, spec.data);
  moekit::Model model(spec, data.y.cols(), data.x.cols(), data.z.cols());
  const moekit::FitResult r = moekit::EmFitter(moekit::FitOptions{}).fit(model, data);
  std::printf("loglik %.6f after %d iterations\n", r.loglik, r.iterations);
  return std::isfinite(r.loglik) && r.converged() ? 0 : 1;
}
