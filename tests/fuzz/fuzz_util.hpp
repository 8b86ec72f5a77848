#pragma once
// Shared by the fuzz harnesses: the input as a file (for readers that take a path), and the
// rule every harness checks — bad input may only ever be an InputError.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "ssmkit/error.hpp"

namespace ssmkit::fuzz {

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// One file per process, rewritten for every input.
inline std::filesystem::path as_file(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("ssmkit_fuzz_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
  return path;
}

// Runs `read`; an InputError is the expected answer to bad input. Anything else escapes and
// ends the run: libFuzzer reports it as a crash (an uncaught exception aborts).
template <class F>
void expect_input_error_at_most(F&& read) {
  try {
    read();
  } catch (const InputError&) {
  }
}

}  // namespace ssmkit::fuzz
