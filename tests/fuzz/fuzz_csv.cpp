// libFuzzer harness: the CSV reader and what the data layer makes of a table.
// The first byte picks the delimiter; the rest is the file. Any InputError is a correct
// answer; anything else (a crash, a sanitizer report, another exception, a leak) is a bug.

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr char kDelimiters[] = {',', ';', '\t', '|', ' ', '"'};
  moekit::CsvOptions options;
  options.delimiter = kDelimiters[data[0] % sizeof kDelimiters];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const moekit::CsvTable table = moekit::parse_csv(text, "fuzz.csv", options);
    for (size_t j = 0; j < table.columns.size(); ++j) {
      if (table.find(table.columns[j].name) != static_cast<int>(j)) __builtin_trap();
      try {
        table.require_clean(static_cast<int>(j));
      } catch (const moekit::InputError&) {
      }
    }
    // Every numeric column as a response (a Gaussian mixture's data), then the first column
    // explained by all others.
    moekit::DataSpec all;
    try {
      moekit::make_dataset(table, all);
    } catch (const moekit::InputError&) {
    }
    moekit::DataSpec dot;
    dot.formula = "`" + table.columns[0].name + "` ~ .";
    if (table.columns[0].name.find('`') == std::string::npos) {
      try {
        moekit::make_dataset(table, dot);
        moekit::apply_spec(table, dot, true);
      } catch (const moekit::InputError&) {
      }
    }
  } catch (const moekit::InputError&) {
  }
  return 0;
}
