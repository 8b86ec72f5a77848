#include "ssmkit/bench/random_inputs.hpp"

#include <algorithm>
#include <thread>

namespace ssmkit::bench {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Filled in parallel chunks, each with its own stream, so that the values do not depend on
// the number of threads.
Tensor random_tensor(Shape shape, double lo, double hi, DType dtype, std::uint64_t seed) {
  Tensor t(DType::float64, std::move(shape));
  auto values = t.span<double>();
  const std::size_t n = values.size();
  constexpr std::size_t kChunk = 1 << 20;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  auto fill = [&](std::size_t first_chunk, std::size_t step) {
    for (std::size_t c = first_chunk; c < chunks; c += step) {
      std::uint64_t state = seed * 0x100000001b3ULL + c;
      const std::size_t end = std::min(n, (c + 1) * kChunk);
      for (std::size_t i = c * kChunk; i < end; ++i) {
        const double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
        values[i] = round_to_dtype(lo + (hi - lo) * u, dtype);
      }
    }
  };
  const std::size_t threads =
      std::min<std::size_t>(chunks, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (std::size_t k = 1; k < threads; ++k) pool.emplace_back(fill, k, threads);
  fill(0, std::max<std::size_t>(threads, 1));
  for (auto& th : pool) th.join();
  return t;
}

std::vector<std::int64_t> shuffled(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  std::uint64_t state = seed;
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const auto j = static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(i + 1));
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(j)]);
  }
  return v;
}

}  // namespace ssmkit::bench
