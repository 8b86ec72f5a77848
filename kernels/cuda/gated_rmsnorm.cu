#include <cstdint>
#include <type_traits>

#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "gated_rmsnorm_device.hpp"

namespace ssmkit::cuda {
namespace {

using Args = GatedRmsNormDeviceArgs;
constexpr int kBlock = 256;

// Any shape (groups not a whole number of 16-byte vectors, unaligned pointers, groups over
// 16 KB): one block per (row, group), a block-wide sum of squares, then the scaled write,
// which re-reads the group from L1/L2.
template <class T>
__global__ __launch_bounds__(kBlock) void gated_rmsnorm_fwd(const Args a) {
  const long long groups_per_row = a.dim / a.group_size;
  const long long row = blockIdx.x / groups_per_row;
  const long long first = row * a.dim + (blockIdx.x % groups_per_row) * a.group_size;
  const T* x = static_cast<const T*>(a.x);
  const T* z = static_cast<const T*>(a.z);
  const bool gate_first = z && !a.norm_before_gate;
  const int G = static_cast<int>(a.group_size);
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < G; i += blockDim.x) {
    float v = to_float(x[first + i]);
    if (gate_first) v *= silu(to_float(z[first + i]));
    sum_sq += v * v;
  }
  __shared__ float warp_sums[kBlock / 32];
  sum_sq = warp_sum(sum_sq);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum_sq;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kBlock / 32; ++w) total += warp_sums[w];
  const float rstd = rsqrtf(total / G + a.eps);
  for (int i = threadIdx.x; i < G; i += blockDim.x) {
    const long long e = first + i;
    const long long d = e % a.dim;
    float v = to_float(x[e]);
    if (gate_first) v *= silu(to_float(z[e]));
    float y = v * rstd * a.weight[d] + load_or(a.bias, d, 0.f);
    if (z && a.norm_before_gate) y *= silu(to_float(z[e]));
    static_cast<T*>(a.out)[e] = from_float<T>(y);
  }
}

// The bandwidth kernel: kTPG threads own a group (a warp for small groups, a whole block of
// 128 for large ones), each keeping its up to kMaxV vectors of x and of the gate in
// registers between the sum of squares and the write, so x and z are read from memory once,
// 16 bytes per access. kMaxV is the smallest that fits the group, since the registers it
// takes decide how many warps an SM holds.
constexpr int kVecBlock = 128;  // threads of a block of warp-owned groups

template <int kTPG>
constexpr int block_threads() { return kTPG < kVecBlock ? kVecBlock : kTPG; }

template <class T, int kTPG, int kMaxV>
__global__ __launch_bounds__(block_threads<kTPG>()) void gated_rmsnorm_vec(const Args a) {
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  constexpr int kGroupsPerBlock = block_threads<kTPG>() / kTPG;
  // 32-bit index math (the launcher checks the group count fits), uniform across the block
  // when the block owns one group: a per-thread 64-bit division costs more than the data.
  const unsigned groups_per_row = static_cast<unsigned>(a.dim / a.group_size);
  const unsigned group = kGroupsPerBlock == 1 ? blockIdx.x
                                              : blockIdx.x * kGroupsPerBlock + threadIdx.x / kTPG;
  const int lane = threadIdx.x % kTPG;
  if (kGroupsPerBlock > 1 && group >= a.rows * groups_per_row) return;  // no block barrier below
  const long long row = group / groups_per_row;
  const long long g0 = static_cast<long long>(group % groups_per_row) * a.group_size;
  const long long first = row * a.dim + g0;
  const int nvec = static_cast<int>(a.group_size / kVec);
  const T* x = static_cast<const T*>(a.x) + first;
  const T* z = a.z ? static_cast<const T*>(a.z) + first : nullptr;
  const bool gate_first = z && !a.norm_before_gate;
  float v[kMaxV][kVec], gate[kMaxV][kVec];
  float sum_sq = 0.f;
#pragma unroll
  for (int j = 0; j < kMaxV; ++j) {
    const int i = lane + j * kTPG;
    if (i >= nvec) break;
    const auto xv = load_array<kVec>(x + i * kVec);
    Array<T, kVec> zv;
    if (z) zv = load_array<kVec>(z + i * kVec);
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      gate[j][e] = z ? silu(to_float(zv.v[e])) : 1.f;
      v[j][e] = to_float(xv.v[e]) * (gate_first ? gate[j][e] : 1.f);
      sum_sq += v[j][e] * v[j][e];
    }
  }
  float total = warp_sum(sum_sq);
  if constexpr (kTPG > 32) {
    __shared__ float warp_sums[kTPG / 32];
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = total;
    __syncthreads();
    total = 0.f;
#pragma unroll
    for (int w = 0; w < kTPG / 32; ++w) total += warp_sums[w];
  }
  const float rstd = rsqrtf(total / static_cast<float>(a.group_size) + a.eps);
  const bool gate_after = z && a.norm_before_gate;
  T* out = static_cast<T*>(a.out) + first;
#pragma unroll
  for (int j = 0; j < kMaxV; ++j) {
    const int i = lane + j * kTPG;
    if (i >= nvec) break;
    const long long d = g0 + i * kVec;
    float w[kVec], b[kVec];
#pragma unroll
    for (int k = 0; k < kVec; k += 4) {
      const auto wq = load_array<4>(a.weight + d + k);
      const auto bq = a.bias ? load_array<4>(a.bias + d + k) : Array<float, 4>{};
#pragma unroll
      for (int e = 0; e < 4; ++e) w[k + e] = wq.v[e], b[k + e] = bq.v[e];
    }
    Array<T, kVec> ov;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      const float y = v[j][e] * rstd * w[e] + b[e];
      ov.v[e] = from_float<T>(gate_after ? y * gate[j][e] : y);
    }
    store_array<kVec>(out + i * kVec, ov);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

void launch_gated_rmsnorm(const Args& a, cudaStream_t stream) {
  if (a.rows == 0 || a.dim == 0) return;
  const long long blocks = a.rows * (a.dim / a.group_size);
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = 16 / static_cast<int>(sizeof(T));
    const long long nvec = a.group_size / kVec;
    const bool vec = a.group_size % kVec == 0 && a.dim % kVec == 0 && nvec <= kVecBlock * 8 &&
                     blocks < (1ll << 31) &&
                     aligned16(a.x) && aligned16(a.out) && (!a.z || aligned16(a.z)) &&
                     aligned16(a.weight) && (!a.bias || aligned16(a.bias));
    // Threads per group, then the fewest vectors per thread that cover the group.
    auto launch = [&](auto tpg) {
      constexpr int kTPG = decltype(tpg)::value;
      constexpr int kPerBlock = block_threads<kTPG>() / kTPG;
      const unsigned grid = static_cast<unsigned>((blocks + kPerBlock - 1) / kPerBlock);
      const long long per_thread = (nvec + kTPG - 1) / kTPG;
      if (per_thread <= 2) {
        gated_rmsnorm_vec<T, kTPG, 2><<<grid, block_threads<kTPG>(), 0, stream>>>(a);
      } else if (per_thread <= 4) {
        gated_rmsnorm_vec<T, kTPG, 4><<<grid, block_threads<kTPG>(), 0, stream>>>(a);
      } else {
        gated_rmsnorm_vec<T, kTPG, 8><<<grid, block_threads<kTPG>(), 0, stream>>>(a);
      }
    };
    if (vec && nvec <= 32 * 8) {
      launch(std::integral_constant<int, 32>{});
    } else if (vec) {
      launch(std::integral_constant<int, kVecBlock>{});
    } else {
      gated_rmsnorm_fwd<T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(a);
    }
    SSMKIT_CHECK_LAUNCH("gated_rmsnorm");
  });
}

}  // namespace ssmkit::cuda
