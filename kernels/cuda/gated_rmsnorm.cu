#include <type_traits>

#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "gated_rmsnorm_device.hpp"
#include "op_bindings.hpp"

namespace ssmkit::cuda {
namespace {

using Args = GatedRmsNormDeviceArgs;
constexpr int kBlock = 256;

// Any shape (groups not a whole number of 16-byte vectors, unaligned pointers, groups over
// 32 KB): one block per (row, group), a block-wide sum of squares, then the scaled write,
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

// The bandwidth kernel. The threads that own a group keep its 16-byte vectors (up to kMaxV
// per thread) in registers from the sum of squares to the write, so x and z are read from
// memory once. They keep what the write needs, in the fewest registers: with the gate first
// (the Mamba2 default) the gated product x * silu(z) in float, so silu runs once per element;
// otherwise x and z as loaded (16-bit pairs), converted again at the write. Registers decide
// how many warps an SM holds, and the kernel needs them all to keep enough bytes in flight.
// The gate's place is a template parameter for the same reason.
// kWarpGroups: a warp per group (groups of up to 32 * kMaxV vectors), four to a block, no
// block barrier; else one group per block of blockDim.x (a multiple of 32, at most
// kMaxGroupBlock) threads.
constexpr int kWarpGroupBlock = 128;
constexpr int kMaxGroupBlock = 512;
enum class Gate { none, first, after };

template <class T, Gate kGate, int kMaxV, bool kWarpGroups>
__global__ __launch_bounds__(kWarpGroups ? kWarpGroupBlock : kMaxGroupBlock) void
    gated_rmsnorm_vec(const Args a) {
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  constexpr bool gate_first = kGate == Gate::first, gate_after = kGate == Gate::after;
  const int tpg = kWarpGroups ? 32 : static_cast<int>(blockDim.x);
  // 32-bit index math (the launcher checks the group count fits), uniform across the block
  // when the block owns one group: a per-thread 64-bit division costs more than the data.
  const unsigned groups_per_row = static_cast<unsigned>(a.dim / a.group_size);
  const unsigned group =
      kWarpGroups ? blockIdx.x * (kWarpGroupBlock / 32) + threadIdx.x / 32 : blockIdx.x;
  const int lane = kWarpGroups ? threadIdx.x % 32 : threadIdx.x;
  if (kWarpGroups && group >= a.rows * groups_per_row) return;  // no block barrier below
  const long long row = group / groups_per_row;
  const long long g0 = static_cast<long long>(group % groups_per_row) * a.group_size;
  const long long first = row * a.dim + g0;
  const int nvec = static_cast<int>(a.group_size / kVec);
  const T* x = static_cast<const T*>(a.x) + first;
  const T* z = kGate != Gate::none ? static_cast<const T*>(a.z) + first : nullptr;
  float gated[kMaxV][kVec];              // gate first: x * silu(z)
  Array<T, kVec> xr[kMaxV], zr[kMaxV];  // otherwise: x, and z when the gate comes after
  float sum_sq = 0.f;
#pragma unroll
  for (int j = 0; j < kMaxV; ++j) {
    const int i = lane + j * tpg;
    if (i >= nvec) break;
    xr[j] = load_array<kVec>(x + i * kVec);
    if constexpr (kGate != Gate::none) zr[j] = load_array<kVec>(z + i * kVec);
  }
#pragma unroll
  for (int j = 0; j < kMaxV; ++j) {
    if (lane + j * tpg >= nvec) break;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float v = to_float(xr[j].v[e]);
      if constexpr (gate_first) {
        v *= silu(to_float(zr[j].v[e]));
        gated[j][e] = v;
      }
      sum_sq += v * v;
    }
  }
  float total = warp_sum(sum_sq);
  if constexpr (!kWarpGroups) {
    __shared__ float warp_sums[kMaxGroupBlock / 32];
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = total;
    __syncthreads();
    total = 0.f;
    for (int w = 0; w < tpg / 32; ++w) total += warp_sums[w];
  }
  const float rstd = rsqrtf(total / static_cast<float>(a.group_size) + a.eps);
  T* out = static_cast<T*>(a.out) + first;
#pragma unroll
  for (int j = 0; j < kMaxV; ++j) {
    const int i = lane + j * tpg;
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
      const float v = gate_first ? gated[j][e] : to_float(xr[j].v[e]);
      const float y = v * rstd * w[e] + b[e];
      ov.v[e] = from_float<T>(gate_after ? y * silu(to_float(zr[j].v[e])) : y);
    }
    store_array<kVec>(out + i * kVec, ov);
  }
}

}  // namespace

void launch_gated_rmsnorm(const Args& a, cudaStream_t stream) {
  if (a.rows == 0 || a.dim == 0) return;
  const long long blocks = a.rows * (a.dim / a.group_size);
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = 16 / static_cast<int>(sizeof(T));
    const long long nvec = a.group_size / kVec;
    const bool vec = a.group_size % kVec == 0 && a.dim % kVec == 0 && nvec <= kMaxGroupBlock * 4 &&
                     blocks < (1ll << 31) &&
                     aligned16(a.x) && aligned16(a.out) && aligned16(a.z) &&
                     aligned16(a.weight) && aligned16(a.bias);
    // Two vectors per thread: a warp for groups of up to 64 vectors (four to a block), else a
    // block of one thread per two vectors; four per thread only where two would need more
    // than kMaxGroupBlock threads. More, smaller threads keep more loads in flight per SM
    // than fewer threads with more registers each (docs/history/optimisation-notes.md, step 5).
    auto launch = [&](auto gate) {
      constexpr Gate kGate = decltype(gate)::value;
      if (nvec <= 32 * 2) {
        const unsigned grid =
            static_cast<unsigned>((blocks + kWarpGroupBlock / 32 - 1) / (kWarpGroupBlock / 32));
        gated_rmsnorm_vec<T, kGate, 2, true><<<grid, kWarpGroupBlock, 0, stream>>>(a);
      } else if (nvec <= kMaxGroupBlock * 2) {
        const unsigned threads = static_cast<unsigned>((nvec + 63) / 64 * 32);
        gated_rmsnorm_vec<T, kGate, 2, false><<<static_cast<unsigned>(blocks), threads, 0,
                                                 stream>>>(a);
      } else {
        const unsigned threads = static_cast<unsigned>((nvec + 127) / 128 * 32);
        gated_rmsnorm_vec<T, kGate, 4, false><<<static_cast<unsigned>(blocks), threads, 0,
                                                 stream>>>(a);
      }
    };
    if (!vec) {
      gated_rmsnorm_fwd<T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(a);
    } else if (!a.z) {
      launch(std::integral_constant<Gate, Gate::none>{});
    } else if (a.norm_before_gate) {
      launch(std::integral_constant<Gate, Gate::after>{});
    } else {
      launch(std::integral_constant<Gate, Gate::first>{});
    }
    SSMKIT_CHECK_LAUNCH("gated_rmsnorm");
  });
}

// ---- bind: the op's tensors on the device --------------------------------------------------
namespace {

class GatedRmsNormBinding final
    : public Binding<GatedRmsNormBinding, GatedRmsNormDeviceArgs, GatedRmsNormResult, launch_gated_rmsnorm> {
 public:
  explicit GatedRmsNormBinding(const GatedRmsNormParams& p) {
    const DType act = activation_dtype(p.input_dtype);
    x_ = b_.input(p.x, act);
    z_ = b_.input(p.z, act);
    weight_ = b_.input(p.weight, DType::float32);
    bias_ = b_.input(p.bias, DType::float32);
    out_ = b_.output(act, {p.rows, p.dim});
    proto_.rows = p.rows, proto_.dim = p.dim, proto_.group_size = p.group_size;
    proto_.eps = static_cast<float>(p.eps), proto_.norm_before_gate = p.norm_before_gate;
    proto_.act_dtype = act;
  }
  GatedRmsNormDeviceArgs args() const {
    auto a = proto_;
    a.x = b_.ptr(x_), a.z = b_.ptr(z_), a.weight = b_.ptr<float>(weight_);
    a.bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_);
    return a;
  }
  GatedRmsNormResult read() const { return {b_[out_].download()}; }

 private:
  int x_ = -1, z_ = -1, weight_ = -1, bias_ = -1, out_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const GatedRmsNormParams& p) {
  return std::make_unique<GatedRmsNormBinding>(p);
}

}  // namespace ssmkit::cuda
