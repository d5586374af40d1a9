// CSV reading throughput on a numeric file (MB/s through the whole parse, in memory).

#include "moekit/core/rng.hpp"
#include "moekit/data/csv.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

namespace {

using namespace moekit;

// 200k rows x 8 columns of full-precision doubles (about 30 MB).
const std::string& numeric_text() {
  static const std::string text = [] {
    Rng rng(1);
    std::string s = "a,b,c,d,e,f,g,h\n";
    for (int i = 0; i < 200000; ++i)
      for (int j = 0; j < 8; ++j)
        s += fmt::format("{:.17g}{}", 100.0 * standard_normal(rng), j == 7 ? '\n' : ',');
    return s;
  }();
  return text;
}

void BM_ReadNumericCsv(benchmark::State& state) {
  const std::string& text = numeric_text();
  for (auto _ : state) {
    CsvTable t = parse_csv(text, "bench.csv");
    benchmark::DoNotOptimize(t.columns[0].values.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ReadNumericCsv)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
