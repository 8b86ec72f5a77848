#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "gated_delta_rule_device.hpp"
#include "op_bindings.hpp"

namespace ssmkit::cuda {
namespace {

using Args = DeltaRuleDeviceArgs;

// One block per (sequence, value head, 32 value columns); each warp owns 8 columns and the
// whole key dimension: lane = 8 * kg + cc holds the kRows consecutive rows from kg * kRows of
// column cc, so the two reductions over keys per token are two shuffles, and each row's 8
// columns are one 32-byte sector of the state. q, k, exp(g), beta and v of kTokens tokens are
// staged in shared memory (normalised once per block) so the token loop reads no global
// memory. Every state element needs k, q (and a KDA decay) once per token, so shared-memory
// loads would outnumber the FMAs: they are read four at a time (16-byte loads), each key
// group's rows padded by 4 floats so the four groups' loads fall on different banks.
constexpr int kWarps = 4;
constexpr int kColumnsPerWarp = 8;
constexpr int kColumns = kWarps * kColumnsPerWarp;
constexpr int kKeyGroups = 32 / kColumnsPerWarp;

template <int kKeys>
constexpr int tokens_per_stage() {
  return kKeys >= 256 ? 8 : 16;
}

// Where key i of a staged row lives: key group g's rows, then 4 floats of padding.
template <int kRows>
__device__ __forceinline__ int padded(int i) {
  return i + (i / kRows) * 4;
}
__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }

template <class T, class S, int kKeys, bool kPerKey>
__global__ void __launch_bounds__(kWarps * 32) delta_rule_fwd(const Args a) {
  constexpr int kRows = kKeys / kKeyGroups;  // state rows per thread
  constexpr int kTokens = tokens_per_stage<kKeys>();
  constexpr int kStride = kKeys + 4 * kKeyGroups;  // a staged row with its padding
  __shared__ __align__(16) float qs[kTokens][kStride], ks[kTokens][kStride];
  __shared__ __align__(16) float decay_s[kTokens][kPerKey ? kStride : 1];
  __shared__ float beta_s[kTokens], vs[kTokens][kColumns];

  const int K = static_cast<int>(a.key_dim), V = static_cast<int>(a.value_dim);
  const int HV = static_cast<int>(a.v_heads), H = static_cast<int>(a.nheads);
  const int tiles = (V + kColumns - 1) / kColumns;
  const long long n = blockIdx.x / (static_cast<long long>(HV) * tiles);
  const int hv = static_cast<int>(blockIdx.x / tiles % HV);
  const int c0 = static_cast<int>(blockIdx.x % tiles) * kColumns;
  const int h = hv / (HV / H);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kg = lane / kColumnsPerWarp;
  const int local = warp * kColumnsPerWarp + lane % kColumnsPerWarp;  // column within the tile
  const int c = c0 + local;
  const bool column = c < V;

  const long long b = a.cu_seqlens ? 0 : n;
  const long long t0 = a.cu_seqlens ? a.cu_seqlens[n] : 0;
  const long long t1 = a.cu_seqlens ? a.cu_seqlens[n + 1] : a.seqlen;
  const long long slot = a.slots ? a.slots[n] : n;
  T* o = static_cast<T*>(a.o);
  if (a.slots && slot == a.pad_slot_id) {  // padding: zero output, no state touched
    for (long long t = t0 + kg; t < t1; t += kKeyGroups) {
      if (column) o[((b * a.seqlen + t) * HV + hv) * V + c] = from_float<T>(0.f);
    }
    return;
  }

  const long long state_at = (slot * HV + hv) * static_cast<long long>(K) * V;
  float s[kRows];
  const S* in = static_cast<const S*>(a.state_in);
#pragma unroll
  for (int j = 0; j < kRows; ++j) {
    const int i = kg * kRows + j;
    s[j] = (in && column && i < K) ? to_float(in[state_at + static_cast<long long>(i) * V + c]) : 0.f;
  }

  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  for (long long base = t0; base < t1; base += kTokens) {
    const int count = t1 - base < kTokens ? static_cast<int>(t1 - base) : kTokens;
    __syncthreads();  // the previous stage is consumed
    // Stage: warp w takes tokens w, w + kWarps, ...; lanes run over keys.
    for (int tt = warp; tt < kTokens; tt += kWarps) {
      const long long row = b * a.seqlen + base + tt;  // (batch, token)
      const bool live = tt < count;
      float qn = 0.f, kn = 0.f;
      for (int i = lane; i < kKeys; i += 32) {
        const float qv = live && i < K ? to_float(q[(row * H + h) * K + i]) : 0.f;
        const float kv = live && i < K ? to_float(k[(row * H + h) * K + i]) : 0.f;
        qs[tt][padded<kRows>(i)] = qv, ks[tt][padded<kRows>(i)] = kv;
        qn += qv * qv, kn += kv * kv;
        if constexpr (kPerKey) {
          decay_s[tt][padded<kRows>(i)] = live && i < K ? __expf(a.g[(row * HV + hv) * K + i]) : 1.f;
        }
      }
      if (a.qk_l2norm) {
        const float rq = rsqrtf(warp_sum(qn) + 1e-6f), rk = rsqrtf(warp_sum(kn) + 1e-6f);
        for (int i = lane; i < kKeys; i += 32) qs[tt][padded<kRows>(i)] *= rq, ks[tt][padded<kRows>(i)] *= rk;
      }
      if (lane == 0) {
        if constexpr (!kPerKey) decay_s[tt][0] = live ? __expf(a.g[row * HV + hv]) : 1.f;
        beta_s[tt] = live ? a.beta[row * HV + hv] : 0.f;
      }
      const int cc = c0 + lane;
      vs[tt][lane] = live && cc < V ? to_float(v[(row * HV + hv) * V + cc]) : 0.f;
    }
    __syncthreads();

    for (int tt = 0; tt < count; ++tt) {
      const float* krow = &ks[tt][kg * (kRows + 4)];
      const float* qrow = &qs[tt][kg * (kRows + 4)];
      // Four partial sums per dot product: a chain of kRows dependent adds per token would
      // set the step's latency, and a batch-1 prompt runs one block per SM on it.
      float pred[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int j = 0; j < kRows; j += 4) {
        const float4 kk = load4(krow + j);
        const float4 dd = kPerKey ? load4(&decay_s[tt][kg * (kRows + 4) + j])
                                  : make_float4(decay_s[tt][0], decay_s[tt][0], decay_s[tt][0], decay_s[tt][0]);
        s[j] *= dd.x, s[j + 1] *= dd.y, s[j + 2] *= dd.z, s[j + 3] *= dd.w;
        pred[0] += s[j] * kk.x, pred[1] += s[j + 1] * kk.y;
        pred[2] += s[j + 2] * kk.z, pred[3] += s[j + 3] * kk.w;
      }
      float predicted = (pred[0] + pred[1]) + (pred[2] + pred[3]);
      predicted += __shfl_xor_sync(0xffffffffu, predicted, 8);
      predicted += __shfl_xor_sync(0xffffffffu, predicted, 16);
      const float u = beta_s[tt] * (vs[tt][local] - predicted);
      float part[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int j = 0; j < kRows; j += 4) {
        const float4 kk = load4(krow + j), qq = load4(qrow + j);
        s[j] += kk.x * u, s[j + 1] += kk.y * u, s[j + 2] += kk.z * u, s[j + 3] += kk.w * u;
        part[0] += s[j] * qq.x, part[1] += s[j + 1] * qq.y;
        part[2] += s[j + 2] * qq.z, part[3] += s[j + 3] * qq.w;
      }
      float y = (part[0] + part[1]) + (part[2] + part[3]);
      y += __shfl_xor_sync(0xffffffffu, y, 8);
      y += __shfl_xor_sync(0xffffffffu, y, 16);
      if (kg == 0 && column) {
        o[((b * a.seqlen + base + tt) * HV + hv) * V + c] = from_float<T>(a.scale * y);
      }
    }
  }

  S* out = static_cast<S*>(a.state_out);
#pragma unroll
  for (int j = 0; j < kRows; ++j) {
    const int i = kg * kRows + j;
    if (column && i < K) out[state_at + static_cast<long long>(i) * V + c] = from_float<S>(s[j]);
  }
}

template <class T, class S, bool kPerKey>
void launch_for(const Args& a, cudaStream_t stream) {
  const long long tiles = (a.value_dim + kColumns - 1) / kColumns;
  const long long blocks = a.sequences * a.v_heads * tiles;
  const auto run = [&](auto kernel) {
    kernel<<<static_cast<unsigned>(blocks), kWarps * 32, 0, stream>>>(a);
  };
  // Keys padded to the next size the kernel holds in registers.
  if (a.key_dim <= 32) {
    run(delta_rule_fwd<T, S, 32, kPerKey>);
  } else if (a.key_dim <= 64) {
    run(delta_rule_fwd<T, S, 64, kPerKey>);
  } else if (a.key_dim <= 128) {
    run(delta_rule_fwd<T, S, 128, kPerKey>);
  } else {
    run(delta_rule_fwd<T, S, 256, kPerKey>);
  }
}

template <class T, class S>
void launch_for_state(const Args& a, cudaStream_t stream) {
  if (a.per_key_decay) {
    launch_for<T, S, true>(a, stream);
  } else {
    launch_for<T, S, false>(a, stream);
  }
}

}  // namespace

void launch_delta_rule(const Args& a, cudaStream_t stream) {
  if (a.sequences == 0 || a.v_heads == 0 || a.value_dim == 0) return;
  dispatch_activation_and_state(a.act_dtype, a.state_dtype, "gated_delta_rule",
                                [&](auto act, auto state) {
                                  using T = typename decltype(act)::type;
                                  launch_for_state<T, typename decltype(state)::type>(a, stream);
                                });
  SSMKIT_CHECK_LAUNCH("gated_delta_rule");
}

// ---- bind: the op's tensors on the device --------------------------------------------------
namespace {

// Sizes, flags and the token inputs every variant shares.
template <class Self, class Result>
class DeltaRuleBindingBase : public Binding<Self, Args, Result, launch_delta_rule> {
 protected:
  void bind_inputs(const DeltaRuleInputs& p, bool per_key) {
    require_warp_state(p.key_dim, "gated_delta_rule key_dim");
    auto& b = this->b_;
    auto& a = this->proto_;
    const DType act = activation_dtype(p.input_dtype);
    q_ = b.input(p.q, act), k_ = b.input(p.k, act), v_ = b.input(p.v, act);
    g_ = b.input(p.g, DType::float32), beta_ = b.input(p.beta, DType::float32);
    o_ = b.output(act, {p.batch, p.seqlen, p.v_heads, p.value_dim});
    a.batch = p.batch, a.seqlen = p.seqlen, a.nheads = p.nheads, a.v_heads = p.v_heads;
    a.key_dim = p.key_dim, a.value_dim = p.value_dim, a.scale = static_cast<float>(p.scale);
    a.qk_l2norm = p.qk_l2norm, a.per_key_decay = per_key, a.act_dtype = act;
  }
  Args token_args() const {
    const auto& b = this->b_;
    Args a = this->proto_;
    a.q = b.ptr(q_), a.k = b.ptr(k_), a.v = b.ptr(v_), a.g = b.template ptr<float>(g_);
    a.beta = b.template ptr<float>(beta_), a.o = b.ptr(o_);
    return a;
  }
  int o_ = -1;

 private:
  int q_ = -1, k_ = -1, v_ = -1, g_ = -1, beta_ = -1;
};

template <DeltaDecay D>
class PrefillBinding final : public DeltaRuleBindingBase<PrefillBinding<D>, DeltaRuleResult<D>> {
 public:
  explicit PrefillBinding(const DeltaRuleParams<D>& p) {
    this->bind_inputs(p, D == DeltaDecay::per_key);
    init_ = this->b_.input(p.initial_state, DType::float32);
    final_ = this->b_.output(DType::float32, {p.sequences(), p.v_heads, p.key_dim, p.value_dim});
    if (!p.cu_seqlens.empty()) cu_ = this->b_.input(index_tensor(p.cu_seqlens), DType::int64);
    this->proto_.sequences = p.sequences();
  }
  Args args() const {
    Args a = this->token_args();
    a.state_in = this->b_.ptr(init_), a.state_out = this->b_.ptr(final_);
    a.cu_seqlens = this->b_.template ptr<std::int64_t>(cu_);
    return a;
  }
  DeltaRuleResult<D> read() const { return {this->b_[this->o_].download(), this->b_[final_].download()}; }

 private:
  int init_ = -1, final_ = -1, cu_ = -1;
};

// The pool is updated in place, as vLLM's decode does.
template <DeltaDecay D>
class UpdateBinding final
    : public DeltaRuleBindingBase<UpdateBinding<D>, DeltaRuleUpdateResult<D>> {
 public:
  explicit UpdateBinding(const DeltaRuleUpdateParams<D>& p) {
    this->bind_inputs(p, D == DeltaDecay::per_key);
    pool_ = this->b_.input(p.state, p.state_dtype);
    if (!p.state_indices.empty()) slots_ = this->b_.input(index_tensor(p.state_indices), DType::int64);
    this->proto_.sequences = p.batch;
    this->proto_.state_dtype = p.state_dtype;
    this->proto_.pad_slot_id = p.pad_slot_id;
  }
  Args args() const {
    Args a = this->token_args();
    a.state_in = this->b_.ptr(pool_), a.state_out = this->b_.ptr(pool_);
    a.slots = this->b_.template ptr<std::int64_t>(slots_);
    return a;
  }
  DeltaRuleUpdateResult<D> read() const {
    return {this->b_[this->o_].download(), this->b_[pool_].download()};
  }

 private:
  int pool_ = -1, slots_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const GatedDeltaRuleParams& p) {
  return std::make_unique<PrefillBinding<DeltaDecay::per_head>>(p);
}
template <>
std::unique_ptr<BoundOp> bind_op(const KdaParams& p) {
  return std::make_unique<PrefillBinding<DeltaDecay::per_key>>(p);
}
template <>
std::unique_ptr<BoundOp> bind_op(const GatedDeltaRuleUpdateParams& p) {
  return std::make_unique<UpdateBinding<DeltaDecay::per_head>>(p);
}
template <>
std::unique_ptr<BoundOp> bind_op(const KdaUpdateParams& p) {
  return std::make_unique<UpdateBinding<DeltaDecay::per_key>>(p);
}

}  // namespace ssmkit::cuda
