#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "lightning_attention_device.hpp"
#include "op_bindings.hpp"

namespace ssmkit::cuda {
namespace {

using Args = LightningAttentionDeviceArgs;

// One warp per (batch, head, value column): the K entries of that state column live on the
// lanes; each step decays them, adds k_t * v_t[c] and reduces q_t . S for the output.
template <class T>
__global__ void lightning_fwd(const Args a) {
  const long long warp = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  const int K = static_cast<int>(a.key_dim), V = static_cast<int>(a.value_dim);
  if (warp >= a.batch * a.nheads * V) return;
  const long long bh = warp / V;
  const int c = static_cast<int>(warp % V);
  const int h = static_cast<int>(bh % a.nheads);
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  const float decay = expf(-a.slope[h]);
  float s[kMaxStatePerLane];
#pragma unroll
  for (int j = 0; j < kMaxStatePerLane; ++j) {
    const int i = lane + 32 * j;
    s[j] = (a.initial_state && i < K) ? a.initial_state[(bh * K + i) * V + c] : 0.f;
  }
  for (long long t = 0; t < a.seqlen; ++t) {
    const long long row = bh * a.seqlen + t;
    const float vt = to_float(v[row * V + c]);
    float part = 0.f;
#pragma unroll
    for (int j = 0; j < kMaxStatePerLane; ++j) {
      const int i = lane + 32 * j;
      if (i < K) {
        s[j] = decay * s[j] + to_float(k[row * K + i]) * vt;
        part += to_float(q[row * K + i]) * s[j];
      }
    }
    const float y = warp_sum(part);
    if (lane == 0) static_cast<T*>(a.out)[row * V + c] = from_float<T>(y);
  }
#pragma unroll
  for (int j = 0; j < kMaxStatePerLane; ++j) {
    const int i = lane + 32 * j;
    if (i < K) a.final_state[(bh * K + i) * V + c] = s[j];
  }
}

}  // namespace

void launch_lightning_attention(const Args& a, cudaStream_t stream) {
  if (a.batch == 0 || a.nheads == 0 || a.value_dim == 0) return;
  require_warp_state(a.key_dim, "lightning_attention key_dim");
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    lightning_fwd<T><<<blocks_for(a.batch * a.nheads * a.value_dim * 32, kBlock), kBlock, 0,
                       stream>>>(a);
    SSMKIT_CHECK_LAUNCH("lightning_attention");
  });
}

// ---- bind: the op's tensors on the device --------------------------------------------------
namespace {

class LightningAttentionBinding final
    : public Binding<LightningAttentionBinding, LightningAttentionDeviceArgs,
                     LightningAttentionResult, launch_lightning_attention> {
 public:
  explicit LightningAttentionBinding(const LightningAttentionParams& p) {
    const DType act = activation_dtype(p.input_dtype);
    q_ = b_.input(p.q, act);
    k_ = b_.input(p.k, act);
    v_ = b_.input(p.v, act);
    slope_ = b_.input(p.slope, DType::float32);
    init_ = b_.input(p.initial_state, DType::float32);
    out_ = b_.output(act, {p.batch, p.nheads, p.seqlen, p.value_dim});
    final_ = b_.output(DType::float32, {p.batch, p.nheads, p.key_dim, p.value_dim});
    proto_.batch = p.batch, proto_.nheads = p.nheads, proto_.seqlen = p.seqlen;
    proto_.key_dim = p.key_dim, proto_.value_dim = p.value_dim, proto_.act_dtype = act;
  }
  LightningAttentionDeviceArgs args() const {
    auto a = proto_;
    a.q = b_.ptr(q_), a.k = b_.ptr(k_), a.v = b_.ptr(v_), a.slope = b_.ptr<float>(slope_);
    a.initial_state = b_.ptr<float>(init_), a.out = b_.ptr(out_);
    a.final_state = b_.ptr<float>(final_);
    return a;
  }
  LightningAttentionResult read() const { return {b_[out_].download(), b_[final_].download()}; }

 private:
  int q_ = -1, k_ = -1, v_ = -1, slope_ = -1, init_ = -1, out_ = -1, final_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const LightningAttentionParams& p) {
  return std::make_unique<LightningAttentionBinding>(p);
}

}  // namespace ssmkit::cuda
