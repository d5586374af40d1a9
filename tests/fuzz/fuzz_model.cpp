// libFuzzer harness: the model-file loader (public API only). The input is a model file;
// ModelFormatError (an InputError) is a correct answer; a model that loads must write back
// to JSON. Anything else (a crash, a sanitizer report, another exception) is a bug.

#include "moekit/core/error.hpp"
#include "moekit/model/model_json.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const moekit::Model model = moekit::model_from_json(text, "fuzz.json");
    (void)moekit::model_to_json(model, nullptr);
    (void)moekit::fit_record_from_json(text, "fuzz.json");
  } catch (const moekit::InputError&) {
  }
  return 0;
}
