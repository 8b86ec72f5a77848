#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ssmkit/backend.hpp"

namespace ssmkit {

// Every backend this program knows of, in report order ("cpu", "cuda").
std::vector<std::string> backend_names();

// Throws BackendUnavailable with the reason (not built with CUDA, no GPU) when `name`
// cannot run here, and InputError for a name that is no backend at all.
std::unique_ptr<Backend> make_backend(const std::string& name);

// The backend whose kernels a replay runs: none for "cpu" (a replay there is accounting
// only), else make_backend(name), with its errors.
std::unique_ptr<Backend> replay_backend(const std::string& name);

}  // namespace ssmkit
