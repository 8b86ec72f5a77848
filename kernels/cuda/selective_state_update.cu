#include <atomic>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "selective_state_update_device.hpp"
#include "op_bindings.hpp"

namespace ssmkit::cuda {
namespace {

using Args = SelectiveStateUpdateDeviceArgs;

// Per-row scalars of the recurrence: dt after bias/softplus, x, and the output's D*x term
// and silu(z) gate (1 without z). All are loaded before the state arithmetic, so that no load
// waits behind a state store the compiler cannot prove it does not alias.
struct RowInputs {
  float dt, x, dx, gate;
};

template <class T>
__device__ __forceinline__ RowInputs row_inputs(const Args& a, long long b, int h, int p) {
  const long long bh = b * a.nheads + h;
  const long long row = bh * a.headdim + p;
  float dt = to_float(static_cast<const T*>(a.dt)[a.dt_per_head ? bh : row]);
  if (a.dt_bias) dt += a.dt_bias[a.dt_bias_per_head ? h : h * a.headdim + p];
  if (a.dt_softplus) dt = fast_softplus(dt);
  const float x = to_float(static_cast<const T*>(a.x)[row]);
  const float d = a.D ? a.D[a.d_per_head ? h : h * a.headdim + p] : 0.f;
  const float gate = a.z ? silu(to_float(static_cast<const T*>(a.z)[row])) : 1.f;
  return {dt, x, d * x, gate};
}

// Mamba1's state (kElementA) is streamed evict-first, leaving L2 to its A (per (channel,
// state), read by the blocks of every batch row). Every hint tried slowed Mamba2's state (not
// yet explained; docs/history/optimisation-notes.md, state update step 12): default policy.
template <bool kStream, int kVec, class S>
__device__ __forceinline__ Array<S, kVec> load_state(const S* p) {
  if constexpr (kStream) return load_array_streaming<kVec>(p);
  return load_array<kVec>(p);
}
template <bool kStream, int kVec, class S>
__device__ __forceinline__ void store_state(S* p, const Array<S, kVec>& a) {
  if constexpr (kStream) return store_array_streaming<kVec>(p, a);
  store_array<kVec>(p, a);
}

template <class S>
struct StateVec;  // how many state elements one 16-byte access holds
template <> struct StateVec<float> { static constexpr int value = 4; };
template <> struct StateVec<__nv_bfloat16> { static constexpr int value = 8; };

// The bandwidth kernel. A row (b, h, p) of the state is N contiguous elements split into
// 16-byte vectors; kTPR consecutive lanes share a row and each thread owns the same vector
// slice of kRPT rows, so B and C (per group) are loaded once per thread and every state
// byte is read and written exactly once, 16 bytes per access, kRPT*kVPT accesses in flight.
template <class T, class S, int kN, int kRowsPerThread>
struct Tiling {
  static constexpr int kVec = StateVec<S>::value;
  static constexpr int kVecsPerRow = kN / kVec;
  static constexpr int kTPR = kVecsPerRow < 32 ? kVecsPerRow : 32;
  static constexpr int kVPT = kVecsPerRow / kTPR;  // vectors per thread and row
  static constexpr int kThreads = 128;
  static constexpr int kRowsPerPass = kThreads / kTPR;
  static constexpr int kRPT = kRowsPerThread;
  static constexpr int kRows = kRowsPerPass * kRPT;
};

// Resident blocks per SM that Mamba2's register budget is set for: a memory-bound kernel
// needs every block it can keep in flight, and register use decides it (72 registers left
// 7 blocks of the bf16-state kernel; at 8 it needs 60). Also the float32 state with N = 128,
// the decode case of the common Mamba2 models: 40 registers, 12 blocks. ptxas -v shows no
// spills at these; Mamba1's per-element A needs more registers than 8 blocks leave.
template <class S, int kN, bool kElementA>
constexpr int state_update_min_blocks() {
  if (kElementA) return 1;
  return sizeof(S) == 4 && kN == 128 ? 12 : 8;
}

// kElementA: A per (channel, state) (Mamba1), loaded with the state; else one A per head.
template <class T, class S, int kN, bool kElementA, int kRowsPerThread>
__global__ __launch_bounds__(128, (state_update_min_blocks<S, kN, kElementA>())) void
    state_update_tiled(const Args a) {
  using Tl = Tiling<T, S, kN, kRowsPerThread>;
  constexpr int kVec = Tl::kVec, kVPT = Tl::kVPT, kTPR = Tl::kTPR, kRPT = Tl::kRPT;
  const long long b = blockIdx.z;
  const int h = blockIdx.y;
  const int sub = threadIdx.x % kTPR;
  const int p_first = blockIdx.x * Tl::kRows + threadIdx.x / kTPR;
  const int P = static_cast<int>(a.headdim);
  const long long slot = a.state_batch_indices ? a.state_batch_indices[b] : b;
  T* out = static_cast<T*>(a.out);
  if (slot == a.pad_slot_id) {
#pragma unroll
    for (int r = 0; r < kRPT; ++r) {
      const int p = p_first + r * Tl::kRowsPerPass;
      if (p < P && sub == 0) out[(b * a.nheads + h) * P + p] = from_float<T>(0.f);
    }
    return;
  }
  const long long g = h / (a.nheads / a.ngroups);
  const T* Bg = static_cast<const T*>(a.B) + (b * a.ngroups + g) * kN;
  const T* Cg = static_cast<const T*>(a.C) + (b * a.ngroups + g) * kN;
  S* state_head = static_cast<S*>(a.state) + (slot * a.nheads + h) * P * kN;

  Array<S, kVec> s[kRPT][kVPT];
#pragma unroll
  for (int r = 0; r < kRPT; ++r) {
    const int p = p_first + r * Tl::kRowsPerPass;
#pragma unroll
    for (int v = 0; v < kVPT; ++v) {
      if (p < P) {
        s[r][v] = load_state<kElementA, kVec>(state_head + p * kN + (sub + v * kTPR) * kVec);
      }
    }
  }
  float Bv[kVPT][kVec], Cv[kVPT][kVec];
#pragma unroll
  for (int v = 0; v < kVPT; ++v) {
    const int n0 = (sub + v * kTPR) * kVec;
    const auto bb = load_array<kVec>(Bg + n0);
    const auto cc = load_array<kVec>(Cg + n0);
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      Bv[v][e] = to_float(bb.v[e]);
      Cv[v][e] = to_float(cc.v[e]);
    }
  }
  // A row's kTPR threads split the work of its scalars (loads, softplus): thread `sub`
  // computes rows sub, sub + kTPR, ... (mod kRPT; every thread, no divergence, so the loads
  // of all rows are in flight together) and the others read them by shuffle. Computing
  // every row in every thread cost more than the state arithmetic itself.
  constexpr int kOwn = kRPT > kTPR ? kRPT / kTPR : 1;
  RowInputs mine[kOwn];
#pragma unroll
  for (int j = 0; j < kOwn; ++j) {
    const int r = (sub + j * kTPR) % kRPT;
    const int p = min(p_first + r * Tl::kRowsPerPass, P - 1);  // tail rows compute, never store
    mine[j] = row_inputs<T>(a, b, h, p);
  }
  const int group_lane0 = (threadIdx.x % 32) - sub;
  const float a_head = kElementA ? 0.f : a.A[h] * kLog2e;
  // Mamba1's A per (channel, state), loaded up front for the same reason as the row scalars.
  Array<float, kVec> a_elem[kElementA ? kRPT : 1][kElementA ? kVPT : 1];
  if constexpr (kElementA) {
#pragma unroll
    for (int r = 0; r < kRPT; ++r) {
      const int pc = min(p_first + r * Tl::kRowsPerPass, P - 1);
#pragma unroll
      for (int v = 0; v < kVPT; ++v) {
        const int n0 = (sub + v * kTPR) * kVec;
        a_elem[r][v] = load_array<kVec>(a.A + (static_cast<long long>(h) * P + pc) * kN + n0);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRPT; ++r) {
    const int p = p_first + r * Tl::kRowsPerPass;
    // The row's scalars, read from the lane that computed them when the row is reached (not
    // all up front: four rows of them held 16 registers through the loads, and registers are
    // what limits the resident blocks of this kernel).
    const int src = group_lane0 + r % kTPR;
    const RowInputs& m = mine[r / kTPR % kOwn];
    const RowInputs in{__shfl_sync(0xffffffffu, m.dt, src), __shfl_sync(0xffffffffu, m.x, src),
                       __shfl_sync(0xffffffffu, m.dx, src), __shfl_sync(0xffffffffu, m.gate, src)};
    const float dtx = in.dt * in.x;
    const float decay_head = kElementA ? 0.f : fast_exp2(in.dt * a_head);
    float part = 0.f;
#pragma unroll
    for (int v = 0; v < kVPT; ++v) {
      float decay[kVec];
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        if constexpr (kElementA) {
          decay[e] = fast_exp2(in.dt * a_elem[r][v].v[e] * kLog2e);
        } else {
          decay[e] = decay_head;
        }
      }
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const float nv = to_float(s[r][v].v[e]) * decay[e] + dtx * Bv[v][e];
        s[r][v].v[e] = from_float<S>(nv);
        part += nv * Cv[v][e];
      }
    }
#pragma unroll
    for (int offset = kTPR / 2; offset > 0; offset >>= 1) {
      part += __shfl_xor_sync(0xffffffffu, part, offset);
    }
    if (p < P) {
#pragma unroll
      for (int v = 0; v < kVPT; ++v) {
        store_state<kElementA, kVec>(state_head + p * kN + (sub + v * kTPR) * kVec, s[r][v]);
      }
      if (sub == 0) {
        const long long row = (b * a.nheads + h) * P + p;
        out[row] = from_float<T>((part + in.dx) * in.gate);
      }
    }
  }
}

// Any dstate: one warp per row, lanes striding over the state.
template <class T, class S>
__global__ void state_update_generic(const Args a) {
  const long long row = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  const long long H = a.nheads, P = a.headdim, N = a.dstate;
  if (row >= a.batch * H * P) return;
  const long long b = row / (H * P);
  const int h = static_cast<int>((row / P) % H), p = static_cast<int>(row % P);
  const long long g = h / (H / a.ngroups);
  const long long slot = a.state_batch_indices ? a.state_batch_indices[b] : b;
  T* out = static_cast<T*>(a.out);
  if (slot == a.pad_slot_id) {
    if (lane == 0) out[row] = from_float<T>(0.f);
    return;
  }
  const RowInputs in = row_inputs<T>(a, b, h, p);
  S* s = static_cast<S*>(a.state) + ((slot * H + h) * P + p) * N;
  const T* Bv = static_cast<const T*>(a.B) + (b * a.ngroups + g) * N;
  const T* Cv = static_cast<const T*>(a.C) + (b * a.ngroups + g) * N;
  float part = 0.f;
  for (long long n = lane; n < N; n += 32) {
    const float A = a.a_per_head ? a.A[h] : a.A[(h * P + p) * N + n];
    const float v = to_float(s[n]) * expf(in.dt * A) + in.dt * to_float(Bv[n]) * in.x;
    s[n] = from_float<S>(v);
    part += v * to_float(Cv[n]);
  }
  part = warp_sum(part);
  if (lane == 0) out[row] = from_float<T>((part + in.dx) * in.gate);
}

std::atomic<int> forced_rows_per_thread{0};

// Four rows per thread spread a row's fixed work (B, C, the row scalars) over more bytes.
// A grid of fewer than three such blocks per SM is bound by the latency of one block's serial
// work instead, and one row per thread, four times the blocks with a quarter of the work
// each, is faster there and slower above it (docs/history/optimisation-notes.md, state
// update step 7).
template <class T, class S, int kN, int kRowsPerThread>
void launch_rows(const Args& a, cudaStream_t stream) {
  using Tl = Tiling<T, S, kN, kRowsPerThread>;
  const dim3 grid(static_cast<unsigned>((a.headdim + Tl::kRows - 1) / Tl::kRows),
                  static_cast<unsigned>(a.nheads), static_cast<unsigned>(a.batch));
  if (a.a_per_head) {
    state_update_tiled<T, S, kN, false, kRowsPerThread><<<grid, Tl::kThreads, 0, stream>>>(a);
  } else {
    state_update_tiled<T, S, kN, true, kRowsPerThread><<<grid, Tl::kThreads, 0, stream>>>(a);
  }
}

template <class T, class S, int kN>
void launch_tiled(const Args& a, cudaStream_t stream) {
  using Wide = Tiling<T, S, kN, 4>;
  const long long wide_blocks =
      (a.headdim + Wide::kRows - 1) / Wide::kRows * a.nheads * a.batch;
  const int forced = forced_rows_per_thread.load(std::memory_order_relaxed);
  if (forced == 1 || (forced == 0 && wide_blocks < 3LL * current_sm_count())) {
    return launch_rows<T, S, kN, 1>(a, stream);
  }
  launch_rows<T, S, kN, 4>(a, stream);
}

template <class T, class S>
void launch_for_state(const Args& a, cudaStream_t stream) {
  const bool grid_fits = a.batch <= 65535 && a.nheads <= 65535;
  switch (grid_fits ? a.dstate : 0) {
    case 16: return launch_tiled<T, S, 16>(a, stream);
    case 32: return launch_tiled<T, S, 32>(a, stream);
    case 64: return launch_tiled<T, S, 64>(a, stream);
    case 128: return launch_tiled<T, S, 128>(a, stream);
    case 256: return launch_tiled<T, S, 256>(a, stream);
    default: {
      constexpr int kBlock = 128;
      const long long threads = a.batch * a.nheads * a.headdim * 32;
      state_update_generic<T, S><<<blocks_for(threads, kBlock), kBlock, 0, stream>>>(a);
    }
  }
}

}  // namespace

void force_state_update_rows_per_thread(int rows) {
  if (rows != 0 && rows != 1 && rows != 4) {
    throw std::invalid_argument("cuda: state update rows per thread " + std::to_string(rows) +
                                "; expected 0 (by grid size), 1 or 4");
  }
  forced_rows_per_thread.store(rows, std::memory_order_relaxed);
}

void launch_selective_state_update(const Args& a, cudaStream_t stream) {
  if (a.batch == 0 || a.nheads == 0 || a.headdim == 0) return;
  dispatch_activation_and_state(a.act_dtype, a.state_dtype, "selective_state_update",
                                [&](auto act, auto state) {
                                  using T = typename decltype(act)::type;
                                  launch_for_state<T, typename decltype(state)::type>(a, stream);
                                });
  SSMKIT_CHECK_LAUNCH("selective_state_update");
}

// ---- bind: the op's tensors on the device; the state is updated in place -------------------
namespace {

class SelectiveStateUpdateBinding final
    : public Binding<SelectiveStateUpdateBinding, SelectiveStateUpdateDeviceArgs,
                     SelectiveStateUpdateResult, launch_selective_state_update> {
 public:
  explicit SelectiveStateUpdateBinding(const SelectiveStateUpdateParams& p) {
    const DType act = activation_dtype(p.input_dtype);
    state_ = b_.input(p.state, p.state_dtype);
    x_ = b_.input(p.x, act);
    dt_ = b_.input(p.dt, act);
    A_ = b_.input(p.A, DType::float32);
    B_ = b_.input(p.B, act);
    C_ = b_.input(p.C, act);
    D_ = b_.input(p.D, DType::float32);
    z_ = b_.input(p.z, act);
    bias_ = b_.input(p.dt_bias, DType::float32);
    if (!p.state_batch_indices.empty()) slots_ = b_.input(index_tensor(p.state_batch_indices), DType::int64);
    out_ = b_.output(act, {p.batch, p.nheads, p.headdim});
    proto_.batch = p.batch, proto_.nheads = p.nheads, proto_.headdim = p.headdim;
    proto_.dstate = p.dstate, proto_.ngroups = p.ngroups, proto_.pad_slot_id = p.pad_slot_id;
    proto_.dt_per_head = p.dt.rank() == 2;
    proto_.a_per_head = p.A.rank() == 1;
    proto_.d_per_head = p.D.defined() && p.D.rank() == 1;
    proto_.dt_bias_per_head = p.dt_bias.defined() && p.dt_bias.rank() == 1;
    proto_.dt_softplus = p.dt_softplus, proto_.act_dtype = act, proto_.state_dtype = p.state_dtype;
  }
  SelectiveStateUpdateDeviceArgs args() const {
    auto a = proto_;
    a.state = b_.ptr(state_), a.x = b_.ptr(x_), a.dt = b_.ptr(dt_), a.A = b_.ptr<float>(A_);
    a.B = b_.ptr(B_), a.C = b_.ptr(C_), a.D = b_.ptr<float>(D_), a.z = b_.ptr(z_);
    a.dt_bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_);
    a.state_batch_indices = b_.ptr<std::int64_t>(slots_);
    return a;
  }
  SelectiveStateUpdateResult read() const { return {b_[out_].download(), b_[state_].download()}; }

 private:
  int state_ = -1, x_ = -1, dt_ = -1, A_ = -1, B_ = -1, C_ = -1, D_ = -1, z_ = -1, bias_ = -1,
      slots_ = -1, out_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const SelectiveStateUpdateParams& p) {
  return std::make_unique<SelectiveStateUpdateBinding>(p);
}

}  // namespace ssmkit::cuda
