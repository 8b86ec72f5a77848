#pragma once
#include <filesystem>
#include <functional>

#include "ssmkit/limits.hpp"

namespace ssmkit {

// Runs `read` (which reads `path`) in a child process first, under an address-space limit
// (limits::kGoldenReadAddressSpaceBytes above the parent's) and a wall-clock alarm
// (limits::kGoldenReadSeconds). libhdf5 can crash, abort or loop forever on a corrupt file;
// in the child that becomes an InputError naming `path` instead of taking the process down.
// An InputError the child throws is rethrown here as is. Returns once the child read the
// file cleanly; the caller then reads it itself.
void probe_in_child(const std::filesystem::path& path, const std::function<void()>& read,
                    unsigned seconds = limits::kGoldenReadSeconds);

}  // namespace ssmkit
