#pragma once
// Stand-in activations for a kernel replay: values that depend only on (seed, channel,
// token position), so a sequence prefilled in one chunk or in several, or fed token by
// token through the decode kernels, sees the same inputs at the same positions.
#include <cuda_runtime.h>

#include <cstdint>

#include "ssmkit/dtype.hpp"

namespace ssmkit::cuda {

// `out` is (outer, rows, inner) in `dtype`: `rows` tokens, each with outer * inner channels
// (channel o * inner + i). outer 1 is a token-major (tokens, channels) tensor, inner 1 a
// channel-major (channels, tokens) one. Token r sits at position row_positions[r] (a device
// array) or, without it, first_position + r. Values are uniform in [lo, hi).
struct PositionalRandomArgs {
  void* out = nullptr;
  DType dtype = DType::float32;
  std::int64_t outer = 1, rows = 0, inner = 1;
  const std::int64_t* row_positions = nullptr;
  std::int64_t first_position = 0;
  std::uint64_t seed = 0;
  float lo = -1.f, hi = 1.f;
};

void launch_positional_random(const PositionalRandomArgs& args, cudaStream_t stream);

}  // namespace ssmkit::cuda
