// Shared by the libFuzzer targets (scripts/fuzz.sh): the input as a file for parsers that read
// files, and the rule every target checks: bad input may only ever end in a zoo::Error or
// zoo::UsageError (the CLI's one-line messages), never in a crash, a sanitizer report or another
// exception.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "lib/core/error.h"

namespace zoo::fuzz {

// A scratch path of this process, NAME appended.
inline std::string scratch(const std::string& name) {
  return "/tmp/zoo-fuzz-" + std::to_string(::getpid()) + "-" + name;
}

inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs `parse`; the project's own errors are the expected answer to bad input.
template <typename F>
void expect_only_zoo_errors(F&& parse) {
  try {
    parse();
  } catch (const zoo::Error&) {
  } catch (const zoo::UsageError&) {
  }
}

}  // namespace zoo::fuzz
