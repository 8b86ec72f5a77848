#pragma once
// Pieces the reports share: one number as a table cell, and a report file written where a
// command-line option says.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"

namespace ssmkit::app {

// printf-style, one double: "%.2f", "%.1e", "%.0f%%".
inline std::string format_number(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Before a long run: an InputError now, naming the option, if `path` could not be written
// later (a directory, a missing folder, no permission). Leaves no file behind.
inline void check_output_file(const std::filesystem::path& path, const char* flag) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError(path.string(), flag, "is a directory (expected a file to write)");
  }
  const bool existed = std::filesystem::exists(path, ec);
  {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    if (!f) throw InputError(path.string(), flag, "cannot open the file for writing");
  }
  if (!existed) std::filesystem::remove(path, ec);
}

// Written whole or not at all (a temporary name, then renamed); an InputError names the
// file and the option when it cannot be written.
inline void write_output_file(const std::filesystem::path& path, const char* flag,
                              const std::string& text) {
  write_file_atomically(path, text, flag);
}

// A report as JSON text. Bytes that are not UTF-8 (a file name found on disk) become U+FFFD
// instead of failing the report after the run.
template <class Json>
std::string json_text(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace ssmkit::app
