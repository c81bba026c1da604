// The two kinds of failure the CLI reports (see CLI.md, "Output and exit codes").
#pragma once
#include <stdexcept>
#include <string>

namespace zoo {

// A bad flag, unknown name or invalid value: exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Anything else that stops a command (unreadable data, corrupt checkpoint, ...): exit code 1.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown by the trainer after it saved last.ckpt on Ctrl-C: exit code 130.
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// First line of an exception's message: LibTorch's messages carry a backtrace after it.
std::string first_line(const std::string& message);

}  // namespace zoo
