#pragma once
// A saved model applied to a CSV table (predict, simulate): the model file is named in the
// messages about it.

#include "moekit/core/error.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"

#include <fmt/format.h>

#include <string>

namespace moekit::cli {

// apply_spec with the model file's name added to a ModelFormatError: its names and formulas
// disagree with the columns they build, which is the file's fault, not the table's.
inline Dataset model_data(const CsvTable& table,
                          const Model& model,
                          bool need_response,
                          const std::string& model_path) {
  try {
    return apply_spec(table, model.spec().data, need_response);
  } catch (const ModelFormatError& e) {
    throw ModelFormatError(fmt::format("{}: spec.data: {}", model_path, e.what()));
  }
}

}  // namespace moekit::cli
