// moekit info: version, build options, threads and the compute devices this machine offers.

#include "commands.hpp"

#include "moekit/backend/device.hpp"
#include "moekit/config.hpp"
#include "moekit/core/parallel.hpp"

#include <fmt/format.h>

namespace moekit::cli {

void add_info_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("info", "Show the version, build options and compute devices");
  cmd->callback([] {
    const DeviceReport r = query_devices();
    fmt::print("moekit {}\n", MOEKIT_VERSION_STRING);
    fmt::print("threads: {} (results do not depend on the count)\n", num_threads());
    fmt::print("CUDA backend compiled: {}\n", r.cuda_compiled ? "yes" : "no");
    if (r.cuda_compiled)
      fmt::print("CUDA runtime {}.{}, driver {}\n", r.runtime_version / 1000,
                 (r.runtime_version % 1000) / 10,
                 r.driver_version == 0 ? std::string("none")
                                       : fmt::format("{}.{}", r.driver_version / 1000,
                                                     (r.driver_version % 1000) / 10));
    for (const GpuInfo& g : r.gpus)
      fmt::print("GPU {}: {} (compute {}.{}, {:.1f} GiB, {} SMs)\n", g.index, g.name,
                 g.compute_major, g.compute_minor, g.memory_gib, g.multiprocessors);
    fmt::print("devices: {}\n", r.status);
  });
}

}  // namespace moekit::cli
