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

// Thrown by the trainer after it saved last.ckpt on SIGINT (exit code 130) or SIGTERM (143).
struct Interrupted : std::runtime_error {
  Interrupted(const std::string& what, int exit_code) : std::runtime_error(what), exit_code(exit_code) {}
  int exit_code;
};

// First line of an exception's message: LibTorch's messages carry a backtrace after it.
std::string first_line(const std::string& message);

// strerror(error) as a string: the system's words for an errno value.
std::string errno_text(int error);

}  // namespace zoo
