#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "positional_random_device.hpp"

namespace ssmkit::cuda {
namespace {

// splitmix64's finaliser: consecutive keys give unrelated 64-bit values.
__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <class T>
__global__ void positional_random(const PositionalRandomArgs a) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= a.outer * a.rows * a.inner) return;
  const long long in = i % a.inner, r = (i / a.inner) % a.rows, o = i / (a.inner * a.rows);
  const long long channel = o * a.inner + in;
  const long long position = a.row_positions ? a.row_positions[r] : a.first_position + r;
  const unsigned long long h =
      mix64(a.seed ^ mix64(static_cast<unsigned long long>(channel) * 0x9e3779b97f4a7c15ull ^
                           mix64(static_cast<unsigned long long>(position))));
  const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);  // 24 bits in [0, 1)
  static_cast<T*>(a.out)[i] = from_float<T>(a.lo + (a.hi - a.lo) * u);
}

}  // namespace

void launch_positional_random(const PositionalRandomArgs& a, cudaStream_t stream) {
  const long long n = a.outer * a.rows * a.inner;
  if (n == 0) return;
  dispatch_activation(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 256;
    positional_random<T><<<blocks_for(n, kBlock), kBlock, 0, stream>>>(a);
    SSMKIT_CHECK_LAUNCH("positional_random");
  });
}

}  // namespace ssmkit::cuda
