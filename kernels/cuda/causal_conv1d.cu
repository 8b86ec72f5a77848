#include <cstdint>
#include <type_traits>

#include "causal_conv1d_device.hpp"
#include "cuda_check.hpp"
#include "dispatch.cuh"
#include "element.cuh"
#include "op_bindings.hpp"

namespace ssmkit::cuda {
namespace {

using ConvArgs = CausalConv1dDeviceArgs;
using UpdateArgs = CausalConv1dUpdateDeviceArgs;

// The extended sequence [initial_states (W-1 columns) | x (L columns)] of one channel.
template <class T>
__device__ __forceinline__ float ext_at(const T* x_row, const T* init_row, int W, long long e) {
  if (e >= W - 1) return to_float(x_row[e - (W - 1)]);
  return init_row ? to_float(init_row[e]) : 0.f;
}

// The bandwidth kernel: a block per (channel, batch) row, each thread making kVec consecutive
// outputs from one 16-byte load of x plus the previous vector (the W-1 inputs before it; that
// load hits the cache line its neighbour thread brought in), so x is read from memory once.
// The row comes from the block index: splitting a flat index by 64-bit division cost more
// instructions than the convolution and kept the kernel issue-bound.
constexpr int kConvBlock = 256;

template <class T, int kW>
__global__ __launch_bounds__(kConvBlock) void conv1d_vec(const ConvArgs a) {
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  static_assert(kW - 1 <= kVec, "the halo must fit in one vector");
  const int vecs_per_row = static_cast<int>(a.seqlen / kVec);
  const int d = blockIdx.x;
  const long long row = blockIdx.y * a.dim + d;
  const T* x_row = static_cast<const T*>(a.x) + row * a.seqlen;
  T* out_row = static_cast<T*>(a.out) + row * a.seqlen;
  float w[kW];
#pragma unroll
  for (int k = 0; k < kW; ++k) w[k] = a.weight[d * kW + k];
  const float bias = a.bias ? a.bias[d] : 0.f;
  for (int tv = threadIdx.x; tv < vecs_per_row; tv += blockDim.x) {
    const auto cur = load_array<kVec>(x_row + tv * kVec);
    float ext[kVec + kW - 1];
    if (tv > 0) {
      const auto prev = load_array<kVec>(x_row + (tv - 1) * kVec);
#pragma unroll
      for (int j = 0; j < kW - 1; ++j) ext[j] = to_float(prev.v[kVec - (kW - 1) + j]);
    } else {
      const T* init = static_cast<const T*>(a.initial_states);
#pragma unroll
      for (int j = 0; j < kW - 1; ++j) ext[j] = init ? to_float(init[row * (kW - 1) + j]) : 0.f;
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e) ext[kW - 1 + e] = to_float(cur.v[e]);
    Array<T, kVec> o;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float acc = bias;
#pragma unroll
      for (int k = 0; k < kW; ++k) acc = fmaf(w[k], ext[e + k], acc);
      o.v[e] = from_float<T>(a.silu ? silu(acc) : acc);
    }
    store_array<kVec>(out_row + tv * kVec, o);
  }
}

// Any length and width: one thread per output.
template <class T>
__global__ void conv1d_generic(const ConvArgs a) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  const long long L = a.seqlen;
  if (i >= a.batch * a.dim * L) return;
  const long long row = i / L, t = i % L;
  const long long d = row % a.dim;
  const int W = static_cast<int>(a.width);
  const T* x_row = static_cast<const T*>(a.x) + row * L;
  const T* init = static_cast<const T*>(a.initial_states);
  const T* init_row = init ? init + row * (W - 1) : nullptr;
  float acc = load_or(a.bias, d, 0.f);
  for (int w = 0; w < W; ++w) acc += a.weight[d * W + w] * ext_at(x_row, init_row, W, t + w);
  static_cast<T*>(a.out)[i] = from_float<T>(a.silu ? silu(acc) : acc);
}

// conv_state keeps the last W columns of the extended sequence, final_states the last W-1.
template <class T>
__global__ void conv1d_states(const ConvArgs a) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  const int W = static_cast<int>(a.width);
  if (i >= a.batch * a.dim * W) return;
  const long long row = i / W;
  const int k = static_cast<int>(i % W);
  const T* x_row = static_cast<const T*>(a.x) + row * a.seqlen;
  const T* init = static_cast<const T*>(a.initial_states);
  const T* init_row = init ? init + row * (W - 1) : nullptr;
  if (a.conv_state) {
    static_cast<T*>(a.conv_state)[i] = from_float<T>(ext_at(x_row, init_row, W, a.seqlen - 1 + k));
  }
  if (a.final_states && k < W - 1) {
    static_cast<T*>(a.final_states)[row * (W - 1) + k] =
        from_float<T>(ext_at(x_row, init_row, W, a.seqlen + k));
  }
}

// One thread per (batch, channel) row: reads its whole window before writing, so the new
// state may overwrite the old one in place.
template <class T>
__global__ void conv1d_update(const UpdateArgs a) {
  const long long row = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (row >= a.batch * a.dim) return;
  const long long d = row % a.dim;
  const int L = static_cast<int>(a.seqlen), W = static_cast<int>(a.width);
  const int S = static_cast<int>(a.state_len);
  const T* x = static_cast<const T*>(a.x);
  T* out = static_cast<T*>(a.out);
  long long state_row = row;
  if (a.state_indices) {
    const long long slot = a.state_indices[row / a.dim];
    if (slot < 0) {
      for (int t = 0; t < L; ++t) out[row * L + t] = from_float<T>(0.f);
      return;
    }
    state_row = slot * a.dim + d;
  }
  const T* state = static_cast<const T*>(a.conv_state) + state_row * S;
  T* new_state = static_cast<T*>(a.new_state) + state_row * S;
  // The window is [cached S columns | L new columns]; token t sits at column S + t.
  auto window = [&](int e) {
    return e < S ? to_float(state[e]) : to_float(x[row * L + (e - S)]);
  };
  for (int t = 0; t < L; ++t) {
    float acc = load_or(a.bias, d, 0.f);
    for (int w = 0; w < W; ++w) acc += a.weight[d * W + w] * window(S + t - (W - 1) + w);
    out[row * L + t] = from_float<T>(a.silu ? silu(acc) : acc);
  }
  for (int k = 0; k < S; ++k) new_state[k] = from_float<T>(window(L + k));
}

template <class T, int kW>
void launch_vec(const ConvArgs& a, cudaStream_t stream) {
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  // Short rows get a smaller block rather than idle threads.
  const long long vecs = a.seqlen / kVec;
  const int block = static_cast<int>(vecs >= kConvBlock ? kConvBlock : (vecs + 31) / 32 * 32);
  const dim3 grid(static_cast<unsigned>(a.dim), static_cast<unsigned>(a.batch));
  conv1d_vec<T, kW><<<grid, block, 0, stream>>>(a);
}

// The decode step (one new token) for 16-byte-aligned rows: a thread owns kR = 16 bytes of
// channels of one batch row, so its kR state rows (kS columns each) are kS contiguous 16-byte
// vectors, and x, out and the new state move as whole vectors too. One thread per channel
// with 2-byte loads, and a 64-bit division per thread for the row, took several times the
// time of the bytes. The batch row is blockIdx.y, so no division at all.
template <class T, int kW, int kS>
__global__ __launch_bounds__(128) void conv1d_update_vec(const UpdateArgs a) {
  constexpr int kR = 16 / static_cast<int>(sizeof(T));  // channels per thread
  const int d0 = (blockIdx.x * blockDim.x + threadIdx.x) * kR;
  const int D = static_cast<int>(a.dim);
  if (d0 >= D) return;
  const long long b = blockIdx.y;
  const long long slot = a.state_indices ? a.state_indices[b] : b;
  T* out = static_cast<T*>(a.out) + b * D + d0;
  if (slot < 0) {
    store_array<kR>(out, Array<T, kR>{});
    return;
  }
  const long long first = (slot * D + d0) * kS;  // element offset of the thread's state rows
  // Element e of the thread's kR * kS state elements is st[e / kR].v[e % kR].
  Array<T, kR> st[kS], next[kS];
#pragma unroll
  for (int k = 0; k < kS; ++k) {
    st[k] = load_array<kR>(static_cast<const T*>(a.conv_state) + first + k * kR);
  }
  const auto xv = load_array<kR>(static_cast<const T*>(a.x) + b * D + d0);
  float wt[kR * kW], bias[kR];  // row r's taps at wt[r * kW ...]; kR * kW is a multiple of 4
#pragma unroll
  for (int k = 0; k < kR * kW; k += 4) {
    const auto q = load_array<4>(a.weight + static_cast<long long>(d0) * kW + k);
#pragma unroll
    for (int e = 0; e < 4; ++e) wt[k + e] = q.v[e];
  }
#pragma unroll
  for (int k = 0; k < kR; k += 4) {
    const auto q = a.bias ? load_array<4>(a.bias + d0 + k) : Array<float, 4>{};
#pragma unroll
    for (int e = 0; e < 4; ++e) bias[k + e] = q.v[e];
  }
  Array<T, kR> ov;
#pragma unroll
  for (int r = 0; r < kR; ++r) {
    // Row r's window: its kS cached columns, then the new token.
    auto window = [&](int e) {
      const int i = r * kS + e;
      return e < kS ? to_float(st[i / kR].v[i % kR]) : to_float(xv.v[r]);
    };
    float acc = bias[r];
#pragma unroll
    for (int w = 0; w < kW; ++w) acc += wt[r * kW + w] * window(kS + 1 - kW + w);
    ov.v[r] = from_float<T>(a.silu ? silu(acc) : acc);
#pragma unroll
    for (int k = 0; k < kS; ++k) {
      const int i = r * kS + k;
      next[i / kR].v[i % kR] = from_float<T>(window(k + 1));
    }
  }
  store_array<kR>(out, ov);
#pragma unroll
  for (int k = 0; k < kS; ++k) {
    store_array<kR>(static_cast<T*>(a.new_state) + first + k * kR, next[k]);
  }
}

}  // namespace

void launch_causal_conv1d(const ConvArgs& a, cudaStream_t stream) {
  if (a.batch == 0 || a.dim == 0 || a.seqlen == 0) return;
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kVec = 16 / static_cast<int>(sizeof(T));
    constexpr int kBlock = 256;
    // gridDim.y (the batch) is limited to 65535; channels and positions are indexed in int.
    const bool vec =
        a.seqlen % kVec == 0 && a.batch <= 65535 && a.dim <= INT32_MAX && a.seqlen <= INT32_MAX;
    if (vec && a.width == 4) {
      launch_vec<T, 4>(a, stream);
    } else if (vec && a.width == 3) {
      launch_vec<T, 3>(a, stream);
    } else if (vec && a.width == 2) {
      launch_vec<T, 2>(a, stream);
    } else {
      conv1d_generic<T><<<blocks_for(a.batch * a.dim * a.seqlen, kBlock), kBlock, 0, stream>>>(a);
    }
    SSMKIT_CHECK_LAUNCH("causal_conv1d");
    if (a.conv_state || a.final_states) {
      conv1d_states<T><<<blocks_for(a.batch * a.dim * a.width, kBlock), kBlock, 0, stream>>>(a);
      SSMKIT_CHECK_LAUNCH("causal_conv1d states");
    }
  });
}

void launch_causal_conv1d_update(const UpdateArgs& a, cudaStream_t stream) {
  if (a.batch == 0 || a.dim == 0) return;
  dispatch_activation(a.act_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kBlock = 128;
    constexpr int kR = 16 / static_cast<int>(sizeof(T));
    const bool vec = a.seqlen == 1 && a.dim % kR == 0 && a.dim <= 0x7fffffffLL - 128LL * kR &&
                     a.batch <= 65535 && aligned16(a.x) && aligned16(a.out) &&
                     aligned16(a.conv_state) && aligned16(a.new_state) &&
                     aligned16(a.weight) && aligned16(a.bias);
    // When a grid of 128-thread blocks has fewer blocks than the device has SMs (batch 1 at
    // D = 5120 gives 5), the busy SMs' load issue is the kernel's time while the rest idle;
    // one-warp blocks spread the same loads over four times as many SMs.
    const bool few_blocks =
        static_cast<long long>(blocks_for(a.dim / kR, kBlock)) * a.batch < current_sm_count();
    const int block = few_blocks ? 32 : kBlock;
    const dim3 grid(blocks_for(a.dim / kR, block), static_cast<unsigned>(a.batch));
    auto launch = [&](auto w, auto s) {
      conv1d_update_vec<T, decltype(w)::value, decltype(s)::value><<<grid, block, 0, stream>>>(a);
    };
    using std::integral_constant;
    const long long W = a.width, S = a.state_len;
    if (vec && W == 4 && S == 3) {
      launch(integral_constant<int, 4>{}, integral_constant<int, 3>{});
    } else if (vec && W == 4 && S == 4) {
      launch(integral_constant<int, 4>{}, integral_constant<int, 4>{});
    } else if (vec && W == 3 && S == 2) {
      launch(integral_constant<int, 3>{}, integral_constant<int, 2>{});
    } else if (vec && W == 3 && S == 3) {
      launch(integral_constant<int, 3>{}, integral_constant<int, 3>{});
    } else if (vec && W == 2 && S == 1) {
      launch(integral_constant<int, 2>{}, integral_constant<int, 1>{});
    } else if (vec && W == 2 && S == 2) {
      launch(integral_constant<int, 2>{}, integral_constant<int, 2>{});
    } else {
      conv1d_update<T><<<blocks_for(a.batch * a.dim, kBlock), kBlock, 0, stream>>>(a);
    }
    SSMKIT_CHECK_LAUNCH("causal_conv1d_update");
  });
}

// ---- binds: the ops' tensors on the device -------------------------------------------------
namespace {

class CausalConv1dBinding final
    : public Binding<CausalConv1dBinding, CausalConv1dDeviceArgs, CausalConv1dResult, launch_causal_conv1d> {
 public:
  explicit CausalConv1dBinding(const CausalConv1dParams& p) {
    const DType act = activation_dtype(p.input_dtype);
    x_ = b_.input(p.x, act);
    weight_ = b_.input(p.weight, DType::float32);
    bias_ = b_.input(p.bias, DType::float32);
    init_ = b_.input(p.initial_states, act);
    out_ = b_.output(act, {p.batch, p.dim, p.seqlen});
    final_ = b_.output(act, {p.batch, p.dim, p.width - 1});
    conv_ = b_.output(act, {p.batch, p.dim, p.width});
    proto_.batch = p.batch, proto_.dim = p.dim, proto_.seqlen = p.seqlen, proto_.width = p.width;
    proto_.silu = p.silu;
    proto_.act_dtype = act;
  }
  CausalConv1dDeviceArgs args() const {
    auto a = proto_;
    a.x = b_.ptr(x_), a.weight = b_.ptr<float>(weight_), a.bias = b_.ptr<float>(bias_);
    a.initial_states = b_.ptr(init_), a.out = b_.ptr(out_);
    a.final_states = b_.ptr(final_), a.conv_state = b_.ptr(conv_);
    return a;
  }
  CausalConv1dResult read() const {
    return {b_[out_].download(), b_[final_].download(), b_[conv_].download()};
  }

 private:
  int x_ = -1, weight_ = -1, bias_ = -1, init_ = -1, out_ = -1, final_ = -1, conv_ = -1;
};

// The window is updated in place, as engines keep it.
class CausalConv1dUpdateBinding final
    : public Binding<CausalConv1dUpdateBinding, CausalConv1dUpdateDeviceArgs,
                     CausalConv1dUpdateResult, launch_causal_conv1d_update> {
 public:
  explicit CausalConv1dUpdateBinding(const CausalConv1dUpdateParams& p) {
    const DType act = activation_dtype(p.input_dtype);
    x_ = b_.input(p.x, act);
    state_ = b_.input(p.conv_state, act);
    weight_ = b_.input(p.weight, DType::float32);
    bias_ = b_.input(p.bias, DType::float32);
    out_ = b_.output(act, {p.batch, p.dim, p.seqlen});
    proto_.batch = p.batch, proto_.dim = p.dim, proto_.seqlen = p.seqlen, proto_.width = p.width;
    proto_.state_len = p.state_len, proto_.silu = p.silu, proto_.act_dtype = act;
  }
  CausalConv1dUpdateDeviceArgs args() const {
    auto a = proto_;
    a.x = b_.ptr(x_), a.conv_state = b_.ptr(state_), a.new_state = b_.ptr(state_);
    a.weight = b_.ptr<float>(weight_), a.bias = b_.ptr<float>(bias_), a.out = b_.ptr(out_);
    return a;
  }
  CausalConv1dUpdateResult read() const { return {b_[out_].download(), b_[state_].download()}; }

 private:
  int x_ = -1, state_ = -1, weight_ = -1, bias_ = -1, out_ = -1;
};

}  // namespace

template <>
std::unique_ptr<BoundOp> bind_op(const CausalConv1dParams& p) {
  return std::make_unique<CausalConv1dBinding>(p);
}
template <>
std::unique_ptr<BoundOp> bind_op(const CausalConv1dUpdateParams& p) {
  return std::make_unique<CausalConv1dUpdateBinding>(p);
}

}  // namespace ssmkit::cuda
