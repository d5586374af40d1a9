// libFuzzer harness: the formula parser and the design matrix it leads to. The input is a
// formula, optionally followed by a line break and a gate formula; both are applied to a
// small table with numeric, text (factor) and grouping columns. InputError is a correct
// answer; anything else (a crash, a stack overflow, a sanitizer report, another exception,
// a leak, a timeout) is a bug.

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/data/formula.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

const moekit::CsvTable& table() {
  static const moekit::CsvTable t = moekit::parse_csv(
      "y,x,z,g,h,id,odd name\n"
      "1.5,0.5,2,a,u,1,3\n"
      "2.5,1.5,1,b,v,1,4\n"
      "0.5,2.5,4,c,u,2,5\n"
      "3.0,3.5,3,a,v,2,6\n"
      "4.5,0.25,5,b,u,3,7\n"
      "2.0,4.0,6,c,v,3,8\n",
      "fuzz.csv");
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  moekit::DataSpec spec;
  spec.formula = input.substr(0, nl);
  if (nl != std::string::npos) spec.gate_formula = input.substr(nl + 1);
  try {
    moekit::Formula f = moekit::parse_formula(spec.formula);
    for (const auto& t : f.terms) (void)t.label();
    std::vector<std::string> names;
    for (const auto& c : table().columns) names.push_back(c.name);
    moekit::expand_dot(f, names);
  } catch (const moekit::InputError&) {
  }
  for (bool categorical : {false, true}) {
    moekit::DataSpec s = spec;
    s.categorical_response = categorical;
    try {
      moekit::make_dataset(table(), s);
      moekit::apply_spec(table(), s, true);
      moekit::apply_spec(table(), s, false);
    } catch (const moekit::InputError&) {
    }
  }
  return 0;
}
