// zoo: one binary for every model, task and device (CLI.md is the contract).
#include <CLI/CLI.hpp>
#include <opencv2/core.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <set>

#include "apps/zoo/cli.h"
#include "apps/zoo/commands.h"
#include "lib/core/error.h"
#include "lib/core/onednn_matmul.h"
#include "lib/core/runtime.h"

int main(int argc, char** argv) {
  using namespace zoo;
  tune_allocator();
  // A file-size limit (ulimit -f) then fails the write with EFBIG, which is reported like a full
  // disk, instead of killing the process in the middle of a save.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"zoo: train, evaluate, export and inspect the attention-era model zoo"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  std::string command = "zoo";
  try {
    auto commands = cli::make_commands(app);
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::printf("%s", app.help(app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name()).c_str());
      return 0;
    } catch (const CLI::CallForAllHelp&) {
      std::printf("%s", app.help("", CLI::AppFormatMode::All).c_str());
      return 0;
    } catch (const CLI::ParseError& e) {
      std::string where = "zoo";
      for (auto* sub : app.get_subcommands()) where += " " + sub->get_name();
      // CLI11's messages are one line; point at --help for the rest.
      std::fprintf(stderr, "%s: error: %s (see %s --help)\n", where.c_str(), first_line(e.what()).c_str(), where.c_str());
      return 2;
    }
    // The commands that run models start again where OpenBLAS fell back to its oldest kernels
    // (lib/core/blas_kernels.h); the others are not worth a second start (~0.3 s).
    static const std::set<std::string> computing = {"train", "eval", "predict", "export", "visualize", "bench"};
    if (computing.count(app.get_subcommands()[0]->get_name())) choose_cpu_kernels(argv);
    for (auto* sub : app.get_subcommands()) {
      command = "zoo " + sub->get_name();
      for (auto* nested : sub->get_subcommands()) command += " " + nested->get_name();
    }
    return cli::run_command(commands, app);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: error: %s\n", command.c_str(), first_line(e.what()).c_str());
    return 2;
  } catch (const Interrupted& e) {
    return e.exit_code;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", command.c_str(), first_line(e.what()).c_str());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", command.c_str(), first_line(e.what_without_backtrace()).c_str());
    return 1;
  } catch (const cv::Exception& e) {
    std::fprintf(stderr, "%s: error: OpenCV: %s\n", command.c_str(), first_line(e.what()).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", command.c_str(), first_line(e.what()).c_str());
    return 1;
  }
}
