#pragma once
// Running the ssmkit binary from end-to-end tests.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace ssmkit::test {

struct CliRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// SSMKIT_BINARY / SSMKIT_SOURCE_DIR in the environment let a copied test binary run
// elsewhere (the GPU machine) against its own checkout.
inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

inline std::filesystem::path source_dir() { return env_or("SSMKIT_SOURCE_DIR", SSMKIT_SOURCE_DIR); }

// A shell command line; stdout and stderr together.
inline CliRun run_command(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  CliRun r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string ssmkit_binary() { return env_or("SSMKIT_BINARY", SSMKIT_BINARY); }

inline CliRun run_ssmkit(const std::string& args) { return run_command(ssmkit_binary() + " " + args); }

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace ssmkit::test
