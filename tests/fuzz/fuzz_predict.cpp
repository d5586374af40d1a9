// libFuzzer harness: predict on a loaded model (public API only). The input is a model
// file; a model that loads predicts every kind of output for the rows of a small table whose
// columns are those of the seed models (faithful, tonedata, iris, NPreg). InputError and
// NumericalError are correct answers; anything else (a crash, a sanitizer report, another
// exception, NaN in a prediction) is a bug.

#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/model/model_json.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

const moekit::CsvTable& table() {
  static const moekit::CsvTable t = moekit::parse_csv(
      "eruptions,waiting,stretchratio,tuned,Sepal.Length,Petal.Width,Species,x,yn,yb,id2\n"
      "3.6,79,1.1,1.9,5.1,0.2,setosa,0.5,3.2,1,1\n"
      "1.8,54,2.3,2.4,6.3,1.8,virginica,4.1,12.5,0,1\n"
      "3.333,74,1.9,2.1,5.8,1.3,versicolor,8.3,30.1,1,2\n"
      "2.283,62,0.8,1.2,6.9,2.3,virginica,2.2,7.7,0,3\n",
      "fuzz.csv");
  return t;
}

void require_finite(const moekit::Matrix& m) {
  if (!m.allFinite()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const moekit::Model model = moekit::model_from_json(text, "fuzz.json");
    for (bool need_response : {true, false}) {
      try {
        const moekit::Dataset d = moekit::apply_spec(table(), model.spec().data, need_response);
        if (need_response) {
          require_finite(moekit::predict_posterior(model, d));
          (void)moekit::predict_class(model, d);
          (void)moekit::predict_log_density(model, d);
        } else {
          require_finite(moekit::predict_gate(model, d));
          (void)moekit::predict_mean(model, d);
          (void)moekit::predict_hard(model, d);
          (void)moekit::predict_expert_means(model, d);
        }
      } catch (const moekit::InputError&) {
      } catch (const moekit::NumericalError&) {
      }
    }
  } catch (const moekit::InputError&) {
  }
  return 0;
}
