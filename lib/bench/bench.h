// `zoo bench`: named benchmark configurations, each timing a fixed unit of work.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/core/options.h"

namespace zoo {

std::string benchmark_names();  // "resnet18_64, loader_folder, gemm_2048"

// Runs the comma-separated configurations (or "all"); one JSON object per configuration with
// config, unit, per_s, step_ms, peak_rss_mb and the settings that produced them. Options used:
// warmup, steps, data, threads, precision.
std::vector<Json> run_benchmarks(const std::string& names, torch::Device device, const Options& options);

// Peak resident set size of this process so far, in MB.
double peak_rss_mb();
// Restarts peak_rss_mb() at the current resident size (after returning free heap to the system).
void reset_peak_rss();

// Finds ../shared/data/<relative> from the working directory or the executable's folder
// (or $ZOO_SHARED_DATA/<relative>); empty when absent.
std::string find_shared_data(const std::string& relative);

}  // namespace zoo
