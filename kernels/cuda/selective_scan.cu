#include "chunk_scan_mma.cuh"
#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "selective_scan_device.hpp"
#include "op_bindings.hpp"

namespace ssmkit::cuda {
namespace {

using Args = SelectiveScanDeviceArgs;

// The throughput kernel: kSplit threads per channel (each owning kN/kSplit of its states,
// in registers) run the recurrence sequentially over time; a block of kChannels channels of
// one batch row (and one group) stages time tiles of u, delta, z (coalesced 16-byte loads,
// transposed through shared memory) and of B and C (shared by the block's channels), then
// writes the output tile back the same way (16-bit inputs: the next tile is copied in while
// this one computes). The staging threads also apply delta_bias and softplus and compute the
// silu(z) gate, so the per-step chain is only the state update: per state element and step
// one MUFU.EX2 and four FMA-pipe instructions.
constexpr int kChannels = 64;
constexpr int kTile = 32;        // time steps per tile
constexpr int kPad = kTile + 1;  // odd row stride: thread c reading [c][t] hits bank (c+t)%32

template <class T, int kN, int kSplit, bool kVecIO>
__global__ __launch_bounds__(kChannels* kSplit) void scan_tiled(const Args a) {
  constexpr int kThreads = kChannels * kSplit;
  constexpr int kVec = kVecIO ? 16 / static_cast<int>(sizeof(T)) : 1;
  constexpr int kRowVecs = kTile / kVec;  // vectors per channel row in a tile
  constexpr int kNT = kN / kSplit;        // states per thread
  static_assert(kNT % 4 == 0, "states are read as float4");
  __shared__ float u_s[kChannels][kPad], dt_s[kChannels][kPad], gate_s[kChannels][kPad];
  __shared__ __align__(16) float B_s[kTile][kN], C_s[kTile][kN];
  // 16-bit inputs: the next tile's vectors are copied in as they are (cp.async) while this
  // tile computes, so a block does not wait for global memory between tiles. float32 tiles
  // would take 28 KB more per block and leave room for fewer blocks per SM than a prefill
  // grid (mamba-2.8b, B=8) needs.
  constexpr bool kRaw = kVecIO && sizeof(T) == 2;
  constexpr int kUdzVecs = kChannels * kRowVecs, kBcVecs = kN * kRowVecs;
  __shared__ Array<T, kVec> raw_udz[kRaw ? 3 : 1][kRaw ? kUdzVecs : 1];
  __shared__ Array<T, kVec> raw_bc[kRaw ? 2 : 1][kRaw ? kBcVecs : 1];

  const long long L = a.seqlen;
  const int c = threadIdx.x / kSplit, part = threadIdx.x % kSplit;
  const long long b = blockIdx.y;
  const long long d0 = static_cast<long long>(blockIdx.x) * kChannels;
  const long long g = d0 / (a.dim / a.ngroups);
  const long long row0 = (b * a.dim + d0) * L;  // first element of the block's first channel
  const T* u = static_cast<const T*>(a.u) + row0;
  const T* delta = static_cast<const T*>(a.delta) + row0;
  const T* z = a.z ? static_cast<const T*>(a.z) + row0 : nullptr;
  T* out = static_cast<T*>(a.out) + row0;
  const T* Bg = static_cast<const T*>(a.B) + (b * a.ngroups + g) * kN * L;
  const T* Cg = static_cast<const T*>(a.C) + (b * a.ngroups + g) * kN * L;
  const int n_first = part * kNT;

  float A2[kNT], h[kNT];
#pragma unroll
  for (int n = 0; n < kNT; ++n) {
    A2[n] = a.A[(d0 + c) * kN + n_first + n] * kLog2e;
    h[n] = a.initial_state ? a.initial_state[(b * a.dim + d0 + c) * kN + n_first + n] : 0.f;
  }
  const float skip = a.D ? a.D[d0 + c] : 0.f;
  auto load_raw = [&](long long t0) {
    for (int i = threadIdx.x; i < kUdzVecs; i += kThreads) {
      const int r = i / kRowVecs, tv = (i % kRowVecs) * kVec;
      if (t0 + tv >= L) continue;
      const long long off = r * L + t0 + tv;
      mma::cp_async_16(mma::smem_addr(&raw_udz[0][i]), u + off, true);
      mma::cp_async_16(mma::smem_addr(&raw_udz[1][i]), delta + off, true);
      if (z) mma::cp_async_16(mma::smem_addr(&raw_udz[2][i]), z + off, true);
    }
    for (int i = threadIdx.x; i < kBcVecs; i += kThreads) {
      const int n = i % kN, tv = (i / kN) * kVec;
      if (t0 + tv >= L) continue;
      const long long off = n * L + t0 + tv;
      mma::cp_async_16(mma::smem_addr(&raw_bc[0][i]), Bg + off, true);
      mma::cp_async_16(mma::smem_addr(&raw_bc[1][i]), Cg + off, true);
    }
    mma::cp_async_commit();
  };
  if constexpr (kRaw) load_raw(0);

  for (long long t0 = 0; t0 < L; t0 += kTile) {
    const int steps = static_cast<int>(L - t0 < kTile ? L - t0 : kTile);
    if constexpr (kRaw) mma::cp_async_wait_all();
    __syncthreads();  // the previous tile's output has been stored (and this tile copied in)
    // Stage u, dt = softplus(delta + bias) and the gate silu(z): kChannels rows x kTile.
    for (int i = threadIdx.x; i < kChannels * kRowVecs; i += kThreads) {
      const int r = i / kRowVecs, tv = (i % kRowVecs) * kVec;
      if (tv >= steps) continue;
      const long long off = r * L + t0 + tv;
      const float bias = a.delta_bias ? a.delta_bias[d0 + r] : 0.f;
      Array<T, kVec> uv, dv, zv;
      if constexpr (kRaw) {
        uv = raw_udz[0][i];
        dv = raw_udz[1][i];
        if (z) zv = raw_udz[2][i];
      } else if constexpr (kVecIO) {
        uv = load_array<kVec>(u + off);
        dv = load_array<kVec>(delta + off);
        if (z) zv = load_array<kVec>(z + off);
      } else {
        uv.v[0] = u[off], dv.v[0] = delta[off];
        if (z) zv.v[0] = z[off];
      }
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        u_s[r][tv + e] = to_float(uv.v[e]);
        const float dt = to_float(dv.v[e]) + bias;
        dt_s[r][tv + e] = a.delta_softplus ? fast_softplus(dt) : dt;
        gate_s[r][tv + e] = z ? silu(to_float(zv.v[e])) : 1.f;
      }
    }
    // Stage B and C transposed to [t][n], so a thread reads one step's states as vectors.
    for (int i = threadIdx.x; i < kN * kRowVecs; i += kThreads) {
      const int n = i % kN, tv = (i / kN) * kVec;
      if (tv >= steps) continue;
      const long long off = n * L + t0 + tv;
      if constexpr (kVecIO) {
        Array<T, kVec> bv, cv;
        if constexpr (kRaw) {
          bv = raw_bc[0][i];
          cv = raw_bc[1][i];
        } else {
          bv = load_array<kVec>(Bg + off);
          cv = load_array<kVec>(Cg + off);
        }
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          B_s[tv + e][n] = to_float(bv.v[e]);
          C_s[tv + e][n] = to_float(cv.v[e]);
        }
      } else {
        B_s[tv][n] = to_float(Bg[off]);
        C_s[tv][n] = to_float(Cg[off]);
      }
    }
    __syncthreads();  // every thread has read this tile's copied-in vectors
    if constexpr (kRaw) {
      if (t0 + kTile < L) load_raw(t0 + kTile);
    }

    for (int t = 0; t < steps; ++t) {
      const float dt = dt_s[c][t];
      const float uv = u_s[c][t];
      const float dtu = dt * uv;
      float y4[4] = {0.f, 0.f, 0.f, 0.f};  // four short chains instead of one of kNT
#pragma unroll
      for (int n4 = 0; n4 < kNT; n4 += 4) {
        const float4 bq = *reinterpret_cast<const float4*>(&B_s[t][n_first + n4]);
        const float4 cq = *reinterpret_cast<const float4*>(&C_s[t][n_first + n4]);
        const float bb[4] = {bq.x, bq.y, bq.z, bq.w}, cc[4] = {cq.x, cq.y, cq.z, cq.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int n = n4 + e;
          h[n] = fmaf(fast_exp2(dt * A2[n]), h[n], dtu * bb[e]);
          y4[e] = fmaf(cc[e], h[n], y4[e]);
        }
      }
      float y = (y4[0] + y4[1]) + (y4[2] + y4[3]);
#pragma unroll
      for (int off = kSplit / 2; off > 0; off >>= 1) y += __shfl_xor_sync(0xffffffffu, y, off);
      // The output tile reuses u's slot; every thread of the channel has read u above.
      if (kSplit > 1) __syncwarp();
      if (part == 0) u_s[c][t] = (y + skip * uv) * gate_s[c][t];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kChannels * kRowVecs; i += kThreads) {
      const int r = i / kRowVecs, tv = (i % kRowVecs) * kVec;
      if (tv >= steps) continue;
      Array<T, kVec> ov;
#pragma unroll
      for (int e = 0; e < kVec; ++e) ov.v[e] = from_float<T>(u_s[r][tv + e]);
      store_array<kVec>(out + r * L + t0 + tv, ov);
    }
  }
  float* last = a.last_state + (b * a.dim + d0 + c) * kN + n_first;
#pragma unroll
  for (int n4 = 0; n4 < kNT; n4 += 4) {
    *reinterpret_cast<float4*>(last + n4) = make_float4(h[n4], h[n4 + 1], h[n4 + 2], h[n4 + 3]);
  }
}

template <class T, int kSplit>
void launch_tiled(const Args& a, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(a.dim / kChannels), static_cast<unsigned>(a.batch));
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  // Several blocks share an SM only if the driver gives shared memory the larger carveout.
  auto vec_kernel = scan_tiled<T, 16, kSplit, true>;
  auto scalar_kernel = scan_tiled<T, 16, kSplit, false>;
  static const bool carveout_set = [&] {  // once, before any graph capture can be active
    for (auto k : {vec_kernel, scalar_kernel}) {
      SSMKIT_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout,
                                             cudaSharedmemCarveoutMaxShared));
    }
    return true;
  }();
  (void)carveout_set;
  const bool vec = a.seqlen % kVec == 0;
  (vec ? vec_kernel : scalar_kernel)<<<grid, kChannels * kSplit, 0, stream>>>(a);
}


// Any shape: one warp per (batch, channel), lane l holding states n = l, l+32, ...
template <class T>
__global__ void scan_generic(const Args a) {
  const long long warp = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= a.batch * a.dim) return;
  const long long b = warp / a.dim, L = a.seqlen;
  const long long d = warp % a.dim;
  const int N = static_cast<int>(a.dstate);
  const long long g = d / (a.dim / a.ngroups);
  const T* Bg = static_cast<const T*>(a.B) + (b * a.ngroups + g) * N * L;
  const T* Cg = static_cast<const T*>(a.C) + (b * a.ngroups + g) * N * L;
  const T* u = static_cast<const T*>(a.u);
  const T* delta = static_cast<const T*>(a.delta);
  const T* z = static_cast<const T*>(a.z);
  float h[kMaxStatePerLane], A[kMaxStatePerLane];
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    h[k] = n < N && a.initial_state ? a.initial_state[warp * N + n] : 0.f;
    A[k] = n < N ? a.A[d * N + n] : 0.f;
  }
  const float bias = load_or(a.delta_bias, d, 0.f);
  const float skip = load_or(a.D, d, 0.f);
  for (long long t = 0; t < L; ++t) {
    const long long i = warp * L + t;
    float dt = to_float(delta[i]) + bias;
    if (a.delta_softplus) dt = softplus(dt);
    const float ui = to_float(u[i]);
    float part = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxStatePerLane; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        h[k] = expf(dt * A[k]) * h[k] + dt * to_float(Bg[n * L + t]) * ui;
        part += to_float(Cg[n * L + t]) * h[k];
      }
    }
    float y = warp_sum(part) + skip * ui;
    if (z) y *= silu(to_float(z[i]));
    if (lane == 0) static_cast<T*>(a.out)[i] = from_float<T>(y);
  }
#pragma unroll
  for (int k = 0; k < kMaxStatePerLane; ++k) {
    const int n = lane + 32 * k;
    if (n < N) a.last_state[warp * N + n] = h[k];
  }
}

}  // namespace

void launch_selective_scan(const Args& a, cudaStream_t stream) {
  if (a.batch == 0 || a.dim == 0) return;
  require_warp_state(a.dstate, "selective_scan dstate");
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool tiled = a.dstate == 16 && a.seqlen > 0 && (a.dim / a.ngroups) % kChannels == 0 &&
                       a.batch <= 65535;
    if (tiled) {
      // Two threads per channel (half the states each): twice the warps hide more latency than
      // their per-step exchange costs (docs/history/optimisation-notes.md, selective_scan 2-3).
      launch_tiled<T, 2>(a, stream);
    } else {
      constexpr int kBlock = 128;
      scan_generic<T><<<blocks_for(a.batch * a.dim * 32, kBlock), kBlock, 0, stream>>>(a);
    }
  });
  SSMKIT_CHECK_LAUNCH("selective_scan");
}

// ---- bind: the op's tensors on the device --------------------------------------------------
namespace {

class SelectiveScanBinding final
    : public Binding<SelectiveScanBinding, SelectiveScanDeviceArgs, SelectiveScanResult, launch_selective_scan> {
 public:
  explicit SelectiveScanBinding(const SelectiveScanParams& p) {
    const DType act = activation_dtype(p.input_dtype);
    u_ = b_.input(p.u, act);
    delta_ = b_.input(p.delta, act);
    A_ = b_.input(p.A, DType::float32);
    B_ = b_.input(p.B, act);
    C_ = b_.input(p.C, act);
    D_ = b_.input(p.D, DType::float32);
    z_ = b_.input(p.z, act);
    bias_ = b_.input(p.delta_bias, DType::float32);
    out_ = b_.output(act, {p.batch, p.dim, p.seqlen});
    last_ = b_.output(DType::float32, {p.batch, p.dim, p.dstate});
    proto_.batch = p.batch, proto_.dim = p.dim, proto_.seqlen = p.seqlen, proto_.dstate = p.dstate;
    proto_.ngroups = p.ngroups, proto_.delta_softplus = p.delta_softplus, proto_.act_dtype = act;
  }
  SelectiveScanDeviceArgs args() const {
    auto a = proto_;
    a.u = b_.ptr(u_), a.delta = b_.ptr(delta_), a.A = b_.ptr<float>(A_);
    a.B = b_.ptr(B_), a.C = b_.ptr(C_), a.D = b_.ptr<float>(D_), a.z = b_.ptr(z_);
    a.delta_bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_), a.last_state = b_.ptr<float>(last_);
    return a;
  }
  SelectiveScanResult read() const { return {b_[out_].download(), b_[last_].download()}; }

 private:
  int u_ = -1, delta_ = -1, A_ = -1, B_ = -1, C_ = -1, D_ = -1, z_ = -1, bias_ = -1, out_ = -1,
      last_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const SelectiveScanParams& p) {
  return std::make_unique<SelectiveScanBinding>(p);
}

}  // namespace ssmkit::cuda
