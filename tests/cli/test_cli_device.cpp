// --device and --float32 as a user meets them: a model the CUDA kernels do not cover, or a
// machine without a usable GPU, runs on the CPU with a warning that says why; --float32
// without --device cuda is refused naming the flag.

#include "cli/cli_support.hpp"

#include "moekit/backend/device.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace moekit::testing;

namespace {
const std::string faithful = std::string(MOEKIT_DATASETS_DIR) + "/faithful.csv";
const std::string nodata = std::string(MOEKIT_DATASETS_DIR) + "/NOdata.csv";
}  // namespace

TEST_CASE("--float32 applies to --device cuda only", "[cli][device]") {
  const Run r = run_cli("fit " + faithful + " -k 2 --float32");
  CHECK(r.status == 1);
  CHECK(r.err.find("--float32 applies to --device cuda only") != std::string::npos);
}

TEST_CASE("--device cuda on a model outside the kernels runs on the CPU and says why",
          "[cli][device]") {
  const Run r = run_cli("fit " + nodata +
                        " --formula 'Equivalence ~ NO' --experts t -k 2 --device cuda --json");
  REQUIRE(r.status == 0);
  CHECK(nlohmann::json::parse(r.out)["backend"] == "cpu");
  // Without a GPU the build or the machine is named first; with one, the family.
  const bool gpu = !moekit::query_devices().gpus.empty();
  CHECK(r.out.find(gpu ? "the CUDA kernels do not cover t experts" : "--device cuda:") !=
        std::string::npos);
}

TEST_CASE("--device cuda gives the CPU's fit", "[cli][device]") {
  const Run cpu = run_cli("fit " + faithful + " -k 2 --restarts 3 --json");
  const Run gpu = run_cli("fit " + faithful + " -k 2 --restarts 3 --device cuda --json");
  REQUIRE(cpu.status == 0);
  REQUIRE(gpu.status == 0);
  const auto a = nlohmann::json::parse(cpu.out), b = nlohmann::json::parse(gpu.out);
  CHECK(b["loglik"].get<double>() == Approx(a["loglik"].get<double>()).epsilon(1e-9));
  if (moekit::query_devices().gpus.empty())
    CHECK(gpu.out.find("the E-step ran on the CPU") != std::string::npos);
  else
    CHECK(b["backend"].get<std::string>().rfind("cuda", 0) == 0);
}
