#pragma once
// Internal to moekit: the CUDA E-step backend (built where MOEKIT_HAS_CUDA).

#include "moekit/backend/estep_backend.hpp"

#include <memory>
#include <string>

namespace moekit {

bool cuda_device_usable(std::string* why);
// Uploads the data; the model must pass Model::export_flat_pack.
std::unique_ptr<EStepBackend> make_cuda_backend(const Dataset& data, bool float32);

}  // namespace moekit
