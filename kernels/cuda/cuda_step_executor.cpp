#include "cuda_step_executor.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include "causal_conv1d_device.hpp"
#include "chunk_scan_device.hpp"
#include "cuda_check.hpp"
#include "cuda_storage.hpp"
#include "device_buffer.hpp"
#include "launch_gate.hpp"
#include "lightning_attention_device.hpp"
#include "paged_kv_device.hpp"
#include "positional_random_device.hpp"
#include "selective_scan_device.hpp"
#include "selective_state_update_device.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit::cuda {
namespace {

// Inputs are made on the legacy default stream, which is ordered with CudaStorage's memsets of
// freshly admitted slots; the timed kernels run on the executor's own stream once it is done.
constexpr cudaStream_t kStream = nullptr;
// A step's kernels are enqueued behind the launch gate (as bench's passes are) when they are
// few enough not to fill the launch queue while the gate holds it; `bench` uses the same
// bound. Each launch_* call enqueues at most two kernels, each copy one operation.
constexpr std::int64_t kMaxGatedLaunches = 256;
constexpr std::int64_t kKernelsPerLaunch = 2;
// A kernel's first launch may load its module (CUDA's lazy loading), which waits for the
// device to go idle and so for a held gate: the gate times out (that step counts as not
// gated) and is replaced, at most this many times, after which steps run ungated.
constexpr int kMaxGateRenewals = 64;
// Lightning layers keep float32 states; their q, k and v arrive in bfloat16.
constexpr DType kLightningActivations = DType::bfloat16;

// Device bytes that grow to the largest step seen; grown while a step is being prepared,
// before its timing starts.
class Scratch {
 public:
  void reserve(std::size_t bytes) {
    if (bytes > capacity_) {
      buffer_ = DeviceTensor(DType::float32, {static_cast<std::int64_t>((bytes + 3) / 4)});
      capacity_ = bytes;
    }
  }
  template <class T = char>
  T* data() const { return buffer_.data<T>(); }

 private:
  DeviceTensor buffer_;
  std::size_t capacity_ = 0;
};

// One input tensor of the step, random per (seed, channel, position).
enum Seed : std::uint64_t { kConvX = 11, kX, kDt, kB, kC, kZ, kQ, kK, kV, kKey, kValue };

DeviceTensor host_uniform(std::mt19937& rng, std::int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  Tensor t(DType::float64, {n});
  for (double& v : t.span<double>()) v = dist(rng);
  return DeviceTensor::upload(t, DType::float32);
}

std::size_t bytes_of(DType dtype, std::int64_t elements) {
  return static_cast<std::size_t>(elements) * dtype_size(dtype);
}

// Host indices into `buffer`, before the step's timing starts.
void upload(Scratch& buffer, const std::vector<std::int64_t>& values) {
  const std::size_t bytes = bytes_of(DType::int64, std::ssize(values));
  buffer.reserve(std::max(bytes, sizeof(std::int64_t)));
  SSMKIT_CUDA_CHECK(cudaMemcpy(buffer.data(), values.data(), bytes, cudaMemcpyHostToDevice));
}

char* at(void* base, std::int64_t elements, DType dtype) {
  return static_cast<char*>(base) + elements * static_cast<std::int64_t>(dtype_size(dtype));
}

void require_activation_dtype(const char* where, DType dtype) {
  if (dtype != DType::float32 && dtype != DType::bfloat16 && dtype != DType::float16) {
    throw InputError(where, "conv_dtype",
                     "float32, bfloat16 or float16 for a kernel replay, got " +
                         std::string(dtype_name(dtype)));
  }
}

void require_float32_state(const char* where, const char* field, DType dtype) {
  if (dtype != DType::float32) {
    throw InputError(where, field,
                     "float32 for a kernel replay (the prefill scans keep float32 states), got " +
                         std::string(dtype_name(dtype)));
  }
}

// Where a step's tokens sit in its token-major inputs: prefill chunks first, in order,
// then one row per decode request.
struct StepLayout {
  std::vector<const ScheduledTokens*> prefill, decode;
  std::vector<std::int64_t> prefill_row;  // first row of each prefill chunk
  std::int64_t prefill_rows = 0;
  std::int64_t longest_chunk = 0;  // tokens of the longest prefill chunk
  std::int64_t decode_rows() const { return static_cast<std::int64_t>(decode.size()); }
  // Rows of a per-launch output: the longest chunk or the decode batch.
  std::int64_t launch_rows() const { return std::max(longest_chunk, decode_rows()); }
  std::int64_t rows() const { return prefill_rows + decode_rows(); }
};

StepLayout layout_of(const StepWork& step) {
  StepLayout s;
  for (const ScheduledTokens& r : step.requests) {
    if (r.tokens <= 0) continue;
    if (r.prefill) {
      s.prefill.push_back(&r);
      s.prefill_row.push_back(s.prefill_rows);
      s.prefill_rows += r.tokens;
      s.longest_chunk = std::max(s.longest_chunk, r.tokens);
    } else {
      s.decode.push_back(&r);
    }
  }
  return s;
}

// Operations the step enqueues (an upper bound: kernels and copies), for the launch gate.
std::int64_t launches_of(const StepLayout& s, const HybridCache& cache) {
  const auto chunks = static_cast<std::int64_t>(s.prefill.size());
  const std::int64_t decode = s.decode_rows() > 0 ? 1 : 0, prefill = chunks > 0 ? 1 : 0;
  std::int64_t n = 0;
  for (std::int64_t l = 0; l < cache.num_layers(); ++l) {
    switch (cache.layer_kind(l)) {
      case LayerKind::attention: n += (prefill + decode) * kKernelsPerLaunch; break;
      // conv window copy, conv, scan, state copy per chunk; conv update, state update
      case LayerKind::mamba2: n += chunks * (2 + 2 * kKernelsPerLaunch) + decode * 2 * kKernelsPerLaunch; break;
      // conv window copy, conv, scan per chunk; conv update, state update
      case LayerKind::mamba: n += chunks * (1 + 2 * kKernelsPerLaunch) + decode * 2 * kKernelsPerLaunch; break;
      // attention and state copy per chunk and per decode row
      case LayerKind::linear_attention: n += (chunks + s.decode_rows()) * (1 + kKernelsPerLaunch); break;
      case LayerKind::gated_delta_net:
      case LayerKind::kda:
      case LayerKind::mla: break;  // refused when the executor is made
    }
  }
  return n;
}

}  // namespace

struct CudaStepExecutor::Impl {
  // Parameters, fixed for the replay: the same for every layer of a kind.
  struct Mamba2Params {
    DeviceTensor conv_weight, conv_bias, A, D_head, D_full, dt_bias;
  };
  struct Mamba1Params {
    DeviceTensor conv_weight, conv_bias, A, D, dt_bias;
  };
  std::optional<Mamba2Params> mamba2;
  std::optional<Mamba1Params> mamba;
  DeviceTensor slope;
  std::string description;

  // Per step: positions and KV slots of every row, decode slots; inputs; outputs and
  // per-launch temporaries.
  Scratch positions, kv_slots, decode_slots;
  Scratch key, value;
  Scratch m2_conv_x, m2_conv_x_decode, m2_x, m2_dt, m2_B, m2_C, m2_z;
  Scratch m1_conv_x, m1_conv_x_decode, m1_u, m1_delta, m1_B, m1_C, m1_z;
  Scratch m1_u_decode, m1_delta_decode, m1_B_decode, m1_C_decode, m1_z_decode;
  Scratch q, k, v, q_decode, k_decode, v_decode;
  Scratch conv_out, conv_initial, scan_out, scan_final, workspace;
  cudaEvent_t start = nullptr, mid = nullptr, stop = nullptr;
  cudaStream_t stream = nullptr;  // the timed kernels'
  std::unique_ptr<LaunchGate> gate = std::make_unique<LaunchGate>();
  int gate_renewals = 0;

  // Inputs of `rows` tokens laid out (outer, rows, inner), see PositionalRandomArgs.
  static void fill(void* out, DType dtype, std::int64_t outer, std::int64_t rows,
                   std::int64_t inner, const std::int64_t* row_positions,
                   std::int64_t first_position, Seed seed, float lo = -1.f, float hi = 1.f) {
    PositionalRandomArgs a;
    a.out = out, a.dtype = dtype, a.outer = outer, a.rows = rows, a.inner = inner;
    a.row_positions = row_positions, a.first_position = first_position, a.seed = seed;
    a.lo = lo, a.hi = hi;
    launch_positional_random(a, kStream);
  }
  // `buffer` sized for, and filled with, every prefill chunk's inputs, chunk after chunk,
  // each laid out (outer, tokens, inner).
  static void per_chunk(Scratch& buffer, DType dtype, const StepLayout& s, std::int64_t outer,
                        std::int64_t inner, Seed seed) {
    buffer.reserve(bytes_of(dtype, s.prefill_rows * outer * inner));
    for (std::size_t i = 0; i < s.prefill.size(); ++i) {
      const ScheduledTokens& r = *s.prefill[i];
      fill(at(buffer.data(), s.prefill_row[i] * outer * inner, dtype), dtype, outer, r.tokens,
           inner, nullptr, r.first_position, seed);
    }
  }
  // `buffer` sized for, and filled with, (rows, channels) token-major inputs at `positions`.
  static void token_major(Scratch& buffer, DType dtype, std::int64_t rows, std::int64_t channels,
                          const std::int64_t* positions, Seed seed) {
    buffer.reserve(bytes_of(dtype, rows * channels));
    fill(buffer.data(), dtype, 1, rows, channels, positions, 0, seed);
  }

  void prepare_attention(const HybridCache& cache, const StepLayout& s, const std::int64_t* pos);
  void prepare_mamba2(const HybridCache& cache, const StepLayout& s, const std::int64_t* pos);
  void prepare_mamba(const HybridCache& cache, const StepLayout& s, const std::int64_t* pos);
  void prepare_lightning(const HybridCache& cache, const StepLayout& s, const std::int64_t* pos);

  void prefill_mamba2(HybridCache& cache, std::int64_t layer, const StepLayout& s);
  void prefill_mamba(HybridCache& cache, std::int64_t layer, const StepLayout& s);
  void prefill_lightning(HybridCache& cache, std::int64_t layer, const StepLayout& s);
  void write_kv(HybridCache& cache, std::int64_t layer, std::int64_t first_row,
                std::int64_t rows);
  void decode_mamba2(HybridCache& cache, std::int64_t layer, const StepLayout& s);
  void decode_mamba(HybridCache& cache, std::int64_t layer, const StepLayout& s);
  void decode_lightning(HybridCache& cache, std::int64_t layer, const StepLayout& s);
};

CudaStepExecutor::CudaStepExecutor(const HybridCache& cache) : impl_(std::make_unique<Impl>()) {
  const char* where = "replay (backend cuda)";
  const bool on_gpu = cache.holds_data() && !cache.storage().empty() &&
                      is_device_memory(cache.storage().front().second->data());
  if (!on_gpu) {
    throw InputError(where, "cache",
                     "a cache allocated on the GPU (CudaBackend::storage_allocator()), got one "
                     "in " + cache.storage_location());
  }
  const HybridCacheConfig& config = cache.config();
  // Kinds without CUDA kernels yet are refused by name: a replay's step times must not
  // leave a layer out silently.
  for (const LayerKind kind : config.layers) {
    if (kind == LayerKind::gated_delta_net || kind == LayerKind::kda || kind == LayerKind::mla) {
      throw InputError(where, "model",
                       "layers the CUDA step executor runs (attention, mamba, mamba2, "
                       "linear_attention); the model has " + std::string(layer_kind_name(kind)) +
                           " layers, which have no CUDA kernels in ssmkit yet (replay them with "
                           "backend cpu, accounting only)");
    }
  }
  std::mt19937 rng(20261122);
  std::string runs;
  auto count = [&](LayerKind kind) {
    std::int64_t n = 0;
    for (LayerKind k : config.layers) n += k == kind;
    return std::to_string(n);
  };
  if (config.mamba2) {
    const Mamba2CacheConfig& c = *config.mamba2;
    require_activation_dtype("cache.mamba2", c.conv_dtype);
    require_float32_state("cache.mamba2", "ssm_dtype", c.ssm_dtype);
    Impl::Mamba2Params p;
    p.conv_weight = host_uniform(rng, c.conv_channels() * c.conv_kernel, -0.5, 0.5);
    p.conv_bias = host_uniform(rng, c.conv_channels(), -0.1, 0.1);
    p.A = host_uniform(rng, c.num_heads, -4.0, -0.5);
    p.dt_bias = host_uniform(rng, c.num_heads, -4.0, -2.0);
    // The chunk scan takes D per channel, the state update per head: the same values.
    Tensor d_head(DType::float64, {c.num_heads}),
        d_full(DType::float64, {c.num_heads * c.head_dim});
    std::uniform_real_distribution<double> dist(0.5, 1.5);
    for (std::int64_t h = 0; h < c.num_heads; ++h) {
      d_head.span<double>()[h] = dist(rng);
      for (std::int64_t e = 0; e < c.head_dim; ++e) {
        d_full.span<double>()[h * c.head_dim + e] = d_head.span<double>()[h];
      }
    }
    p.D_head = DeviceTensor::upload(d_head, DType::float32);
    p.D_full = DeviceTensor::upload(d_full, DType::float32);
    impl_->mamba2 = std::move(p);
    runs += "Mamba2 (" + count(LayerKind::mamba2) +
            " layers): causal_conv1d + mamba_chunk_scan_combined per prefill chunk, "
            "causal_conv1d_update + selective_state_update per decode batch; ";
  }
  if (config.mamba) {
    const MambaCacheConfig& c = *config.mamba;
    require_activation_dtype("cache.mamba", c.conv_dtype);
    require_float32_state("cache.mamba", "ssm_dtype", c.ssm_dtype);
    Impl::Mamba1Params p;
    p.conv_weight = host_uniform(rng, c.intermediate_size * c.conv_kernel, -0.5, 0.5);
    p.conv_bias = host_uniform(rng, c.intermediate_size, -0.1, 0.1);
    p.A = host_uniform(rng, c.intermediate_size * c.d_state, -4.0, -0.5);
    p.D = host_uniform(rng, c.intermediate_size, 0.5, 1.5);
    p.dt_bias = host_uniform(rng, c.intermediate_size, -4.0, -2.0);
    impl_->mamba = std::move(p);
    runs += "Mamba (" + count(LayerKind::mamba) +
            " layers): causal_conv1d + selective_scan per prefill chunk, causal_conv1d_update "
            "+ selective_state_update per decode batch; ";
  }
  if (config.linear_attention) {
    const LinearAttentionCacheConfig& c = *config.linear_attention;
    require_float32_state("cache.linear_attention", "dtype", c.dtype);
    impl_->slope = host_uniform(rng, c.num_heads, 0.01, 0.5);
    runs += "lightning attention (" + count(LayerKind::linear_attention) +
            " layers): lightning_attention per prefill chunk and per decode token; ";
  }
  if (config.attention) {
    require_activation_dtype("cache.attention", config.attention->dtype);
    runs += "attention (" + count(LayerKind::attention) + " layers): paged KV writes only; ";
  }
  impl_->description =
      "CUDA kernels on the cache's GPU storage. " + runs +
      "not run: projections, attention scores, norms, MLPs. Inputs: seeded random "
      "activations made before each step's timing; times: CUDA events per step on the "
      "executor's own stream, enqueued behind bench's launch gate where a step has at most " +
      std::to_string(kMaxGatedLaunches) + " launches (device time only; other steps include "
      "the host's launch time)";
  SSMKIT_CUDA_CHECK(cudaEventCreate(&impl_->start));
  SSMKIT_CUDA_CHECK(cudaEventCreate(&impl_->mid));
  SSMKIT_CUDA_CHECK(cudaEventCreate(&impl_->stop));
  SSMKIT_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
}

CudaStepExecutor::~CudaStepExecutor() {
  // Nothing useful to do with an error while tearing down.
  for (cudaEvent_t e : {impl_->start, impl_->mid, impl_->stop}) {
    if (e) cudaEventDestroy(e);
  }
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

std::string CudaStepExecutor::description() const { return impl_->description; }

// ---- preparation: metadata and inputs, before the timing starts -----------------------------

void CudaStepExecutor::Impl::prepare_attention(const HybridCache& cache, const StepLayout& s,
                                               const std::int64_t* pos) {
  const PagedKVCacheConfig& c = *cache.config().attention;
  const PagedKVCache& kv = cache.attention();
  std::vector<std::int64_t> slots;
  slots.reserve(static_cast<std::size_t>(s.rows()));
  auto add = [&](const ScheduledTokens& r) {
    const std::span<const std::int64_t> table = kv.page_table(r.request);
    for (std::int64_t p = r.first_position; p < r.first_position + r.tokens; ++p) {
      slots.push_back(table[static_cast<std::size_t>(p / c.page_size)] * c.page_size +
                      p % c.page_size);
    }
  };
  for (const ScheduledTokens* r : s.prefill) add(*r);
  for (const ScheduledTokens* r : s.decode) add(*r);
  upload(kv_slots, slots);
  const std::int64_t row = c.kv_heads * c.head_dim;
  token_major(key, c.dtype, s.rows(), row, pos, kKey);
  token_major(value, c.dtype, s.rows(), row, pos, kValue);
}

void CudaStepExecutor::Impl::prepare_mamba2(const HybridCache& cache, const StepLayout& s,
                                            const std::int64_t* pos) {
  const Mamba2CacheConfig& c = *cache.config().mamba2;
  const DType t = c.conv_dtype;
  const std::int64_t rows = s.rows(), ch = c.conv_channels(), nd = s.decode_rows();
  const std::int64_t hp = c.num_heads * c.head_dim, gn = c.n_groups * c.d_state;
  token_major(m2_x, t, rows, hp, pos, kX);
  token_major(m2_z, t, rows, hp, pos, kZ);
  token_major(m2_dt, t, rows, c.num_heads, pos, kDt);
  token_major(m2_B, t, rows, gn, pos, kB);
  token_major(m2_C, t, rows, gn, pos, kC);
  // The conv input is (channels, tokens) per prefill chunk and (tokens, channels) for decode.
  per_chunk(m2_conv_x, t, s, ch, 1, kConvX);
  token_major(m2_conv_x_decode, t, nd, ch, pos + s.prefill_rows, kConvX);
  conv_out.reserve(bytes_of(t, s.launch_rows() * std::max(ch, hp)));
  conv_initial.reserve(bytes_of(t, ch * c.conv_kernel));
  scan_out.reserve(bytes_of(t, s.launch_rows() * hp));
  scan_final.reserve(bytes_of(DType::float32, hp * c.d_state));
  std::size_t ws = 0;
  for (const ScheduledTokens* r : s.prefill) {
    ChunkScanDeviceArgs a;
    a.dtype = t, a.batch = 1, a.nheads = static_cast<int>(c.num_heads);
    a.headdim = static_cast<int>(c.head_dim), a.ngroups = static_cast<int>(c.n_groups);
    a.dstate = static_cast<int>(c.d_state), a.seqlen = r->tokens;
    ws = std::max(ws, chunk_scan_workspace_bytes(a));
  }
  workspace.reserve(ws);
}

void CudaStepExecutor::Impl::prepare_mamba(const HybridCache& cache, const StepLayout& s,
                                           const std::int64_t* pos) {
  const MambaCacheConfig& c = *cache.config().mamba;
  const DType t = c.conv_dtype;
  const std::int64_t d = c.intermediate_size, n = c.d_state, nd = s.decode_rows();
  // Prefill inputs are (channels, tokens) per chunk, as selective_scan reads them.
  per_chunk(m1_conv_x, t, s, d, 1, kConvX);
  per_chunk(m1_u, t, s, d, 1, kX);
  per_chunk(m1_delta, t, s, d, 1, kDt);
  per_chunk(m1_z, t, s, d, 1, kZ);
  per_chunk(m1_B, t, s, n, 1, kB);
  per_chunk(m1_C, t, s, n, 1, kC);
  // Decode inputs are (tokens, channels).
  const std::int64_t* dpos = pos + s.prefill_rows;
  token_major(m1_conv_x_decode, t, nd, d, dpos, kConvX);
  token_major(m1_u_decode, t, nd, d, dpos, kX);
  token_major(m1_delta_decode, t, nd, d, dpos, kDt);
  token_major(m1_z_decode, t, nd, d, dpos, kZ);
  token_major(m1_B_decode, t, nd, n, dpos, kB);
  token_major(m1_C_decode, t, nd, n, dpos, kC);
  conv_out.reserve(bytes_of(t, s.launch_rows() * d));
  conv_initial.reserve(bytes_of(t, d * c.conv_kernel));
  scan_out.reserve(bytes_of(t, s.launch_rows() * d));
}

void CudaStepExecutor::Impl::prepare_lightning(const HybridCache& cache, const StepLayout& s,
                                               const std::int64_t* pos) {
  const LinearAttentionCacheConfig& c = *cache.config().linear_attention;
  const DType t = kLightningActivations;
  const std::int64_t hk = c.num_heads * c.key_dim, hv = c.num_heads * c.value_dim;
  const std::int64_t nd = s.decode_rows();
  // Prefill chunks are (heads, tokens, dim); decode rows (tokens, heads * dim).
  per_chunk(q, t, s, c.num_heads, c.key_dim, kQ);
  per_chunk(k, t, s, c.num_heads, c.key_dim, kK);
  per_chunk(v, t, s, c.num_heads, c.value_dim, kV);
  const std::int64_t* dpos = pos + s.prefill_rows;
  token_major(q_decode, t, nd, hk, dpos, kQ);
  token_major(k_decode, t, nd, hk, dpos, kK);
  token_major(v_decode, t, nd, hv, dpos, kV);
  scan_out.reserve(bytes_of(t, s.launch_rows() * hv));
  scan_final.reserve(bytes_of(DType::float32, c.num_heads * c.key_dim * c.value_dim));
}

// ---- the timed kernels ---------------------------------------------------------------------

void CudaStepExecutor::Impl::write_kv(HybridCache& cache, std::int64_t layer,
                                      std::int64_t first_row, std::int64_t rows) {
  const PagedKVCacheConfig& c = *cache.config().attention;
  PagedKVCache& kv = cache.attention();
  PagedKvWriteDeviceArgs a;
  const std::int64_t row = c.kv_heads * c.head_dim;
  a.key = at(key.data(), first_row * row, c.dtype);
  a.value = at(value.data(), first_row * row, c.dtype);
  a.key_cache = kv.key_pages(layer).data();
  a.value_cache = kv.value_pages(layer).data();
  a.slot_mapping = kv_slots.data<const std::int64_t>() + first_row;
  a.num_tokens = rows;
  a.num_slots = c.num_pages() * c.page_size;
  a.row_elements = row;
  a.dtype = c.dtype;
  launch_paged_kv_write(a, stream);
}

namespace {

// Prefill of one chunk through a slot's conv window: causal-conv1d takes the newest W-1
// columns as its initial states and writes the whole new window back.
void conv_prefill(ConvSsmStateCache& states, std::int64_t layer, std::int64_t slot, const char* x,
                  std::int64_t tokens, const DeviceTensor& weight, const DeviceTensor& bias,
                  char* initial, char* out, DType t, cudaStream_t stream) {
  const std::int64_t ch = states.conv_channels(), w = states.conv_kernel();
  const std::size_t es = dtype_size(t);
  char* window = at(states.conv_storage(layer).data(), slot * ch * w, t);
  SSMKIT_CUDA_CHECK(cudaMemcpy2DAsync(initial, (w - 1) * es, window + es, w * es, (w - 1) * es,
                                      static_cast<std::size_t>(ch), cudaMemcpyDeviceToDevice,
                                      stream));
  CausalConv1dDeviceArgs a;
  a.x = x, a.weight = weight.data<float>(), a.bias = bias.data<float>();
  a.initial_states = initial, a.out = out, a.conv_state = window;
  a.batch = 1, a.dim = ch, a.seqlen = tokens, a.width = w, a.silu = true, a.act_dtype = t;
  launch_causal_conv1d(a, stream);
}

void conv_decode(ConvSsmStateCache& states, std::int64_t layer, const char* x,
                 const std::int64_t* slots, std::int64_t batch, const DeviceTensor& weight,
                 const DeviceTensor& bias, char* out, DType t, cudaStream_t stream) {
  CausalConv1dUpdateDeviceArgs a;
  a.x = x, a.conv_state = states.conv_storage(layer).data();
  a.new_state = states.conv_storage(layer).data();
  a.weight = weight.data<float>(), a.bias = bias.data<float>(), a.out = out;
  a.state_indices = slots;
  a.batch = batch, a.dim = states.conv_channels(), a.seqlen = 1;
  a.width = states.conv_kernel(), a.state_len = states.conv_kernel();
  a.silu = true, a.act_dtype = t;
  launch_causal_conv1d_update(a, stream);
}

}  // namespace

void CudaStepExecutor::Impl::prefill_mamba2(HybridCache& cache, std::int64_t layer,
                                            const StepLayout& s) {
  const Mamba2CacheConfig& c = *cache.config().mamba2;
  Mamba2StateCache& states = cache.mamba2();
  const DType t = c.conv_dtype;
  const std::int64_t ch = c.conv_channels(), hp = c.num_heads * c.head_dim;
  const std::int64_t gn = c.n_groups * c.d_state, state = hp * c.d_state;
  for (std::size_t i = 0; i < s.prefill.size(); ++i) {
    const ScheduledTokens& r = *s.prefill[i];
    const std::int64_t row = s.prefill_row[i];
    conv_prefill(states, layer, r.slot, at(m2_conv_x.data(), row * ch, t), r.tokens,
                 mamba2->conv_weight, mamba2->conv_bias, conv_initial.data(), conv_out.data(), t,
                 stream);
    float* slot_state = reinterpret_cast<float*>(
        at(states.ssm_storage(layer).data(), r.slot * state, DType::float32));
    ChunkScanDeviceArgs a;
    a.dtype = t, a.batch = 1, a.nheads = static_cast<int>(c.num_heads);
    a.headdim = static_cast<int>(c.head_dim), a.ngroups = static_cast<int>(c.n_groups);
    a.dstate = static_cast<int>(c.d_state), a.seqlen = r.tokens, a.dt_softplus = true;
    a.x = at(m2_x.data(), row * hp, t), a.dt = at(m2_dt.data(), row * c.num_heads, t);
    a.A = mamba2->A.data<float>(), a.B = at(m2_B.data(), row * gn, t);
    a.C = at(m2_C.data(), row * gn, t);
    a.D = mamba2->D_full.data<float>(), a.z = at(m2_z.data(), row * hp, t);
    a.dt_bias = mamba2->dt_bias.data<float>();
    a.initial_states = slot_state, a.out = scan_out.data();
    a.final_states = scan_final.data<float>();
    a.workspace = chunk_scan_workspace_bytes(a) > 0 ? workspace.data() : nullptr;
    launch_chunk_scan(a, stream);
    SSMKIT_CUDA_CHECK(cudaMemcpyAsync(slot_state, scan_final.data(),
                                      static_cast<std::size_t>(state) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, stream));
  }
}

void CudaStepExecutor::Impl::decode_mamba2(HybridCache& cache, std::int64_t layer,
                                           const StepLayout& s) {
  const Mamba2CacheConfig& c = *cache.config().mamba2;
  Mamba2StateCache& states = cache.mamba2();
  const DType t = c.conv_dtype;
  const std::int64_t nd = s.decode_rows(), first = s.prefill_rows;
  conv_decode(states, layer, m2_conv_x_decode.data(), decode_slots.data<const std::int64_t>(), nd,
              mamba2->conv_weight, mamba2->conv_bias, conv_out.data(), t, stream);
  SelectiveStateUpdateDeviceArgs a;
  const std::int64_t hp = c.num_heads * c.head_dim, gn = c.n_groups * c.d_state;
  a.state = states.ssm_storage(layer).data();
  a.x = at(m2_x.data(), first * hp, t), a.dt = at(m2_dt.data(), first * c.num_heads, t);
  a.A = mamba2->A.data<float>(), a.B = at(m2_B.data(), first * gn, t);
  a.C = at(m2_C.data(), first * gn, t);
  a.D = mamba2->D_head.data<float>(), a.z = at(m2_z.data(), first * hp, t);
  a.dt_bias = mamba2->dt_bias.data<float>();
  a.state_batch_indices = decode_slots.data<const std::int64_t>(), a.out = scan_out.data();
  a.batch = nd, a.nheads = c.num_heads, a.headdim = c.head_dim, a.dstate = c.d_state;
  a.ngroups = c.n_groups;
  a.dt_per_head = a.a_per_head = a.d_per_head = a.dt_bias_per_head = true;
  a.dt_softplus = true, a.act_dtype = t, a.state_dtype = c.ssm_dtype;
  launch_selective_state_update(a, stream);
}

void CudaStepExecutor::Impl::prefill_mamba(HybridCache& cache, std::int64_t layer,
                                           const StepLayout& s) {
  const MambaCacheConfig& c = *cache.config().mamba;
  MambaStateCache& states = cache.mamba();
  const DType t = c.conv_dtype;
  const std::int64_t d = c.intermediate_size, n = c.d_state;
  for (std::size_t i = 0; i < s.prefill.size(); ++i) {
    const ScheduledTokens& r = *s.prefill[i];
    const std::int64_t row = s.prefill_row[i];
    conv_prefill(states, layer, r.slot, at(m1_conv_x.data(), row * d, t), r.tokens,
                 mamba->conv_weight, mamba->conv_bias, conv_initial.data(), conv_out.data(), t,
                 stream);
    float* slot_state = reinterpret_cast<float*>(
        at(states.ssm_storage(layer).data(), r.slot * d * n, DType::float32));
    SelectiveScanDeviceArgs a;
    a.u = at(m1_u.data(), row * d, t), a.delta = at(m1_delta.data(), row * d, t);
    a.A = mamba->A.data<float>(), a.B = at(m1_B.data(), row * n, t);
    a.C = at(m1_C.data(), row * n, t);
    a.D = mamba->D.data<float>(), a.z = at(m1_z.data(), row * d, t);
    a.delta_bias = mamba->dt_bias.data<float>(), a.out = scan_out.data();
    a.initial_state = slot_state, a.last_state = slot_state;  // continues in place
    a.batch = 1, a.dim = d, a.seqlen = r.tokens, a.dstate = n, a.ngroups = 1;
    a.delta_softplus = true, a.act_dtype = t;
    launch_selective_scan(a, stream);
  }
}

void CudaStepExecutor::Impl::decode_mamba(HybridCache& cache, std::int64_t layer,
                                          const StepLayout& s) {
  const MambaCacheConfig& c = *cache.config().mamba;
  MambaStateCache& states = cache.mamba();
  const DType t = c.conv_dtype;
  const std::int64_t nd = s.decode_rows();
  conv_decode(states, layer, m1_conv_x_decode.data(), decode_slots.data<const std::int64_t>(), nd,
              mamba->conv_weight, mamba->conv_bias, conv_out.data(), t, stream);
  // Mamba1's (channels, d_state) state is the multi-head layout with one head.
  SelectiveStateUpdateDeviceArgs a;
  a.state = states.ssm_storage(layer).data();
  a.x = m1_u_decode.data(), a.dt = m1_delta_decode.data(), a.A = mamba->A.data<float>();
  a.B = m1_B_decode.data(), a.C = m1_C_decode.data(), a.D = mamba->D.data<float>();
  a.z = m1_z_decode.data();
  a.dt_bias = mamba->dt_bias.data<float>();
  a.state_batch_indices = decode_slots.data<const std::int64_t>();
  a.out = scan_out.data();
  a.batch = nd, a.nheads = 1, a.headdim = c.intermediate_size, a.dstate = c.d_state;
  a.ngroups = 1, a.dt_softplus = true, a.act_dtype = t, a.state_dtype = c.ssm_dtype;
  launch_selective_state_update(a, stream);
}

namespace {

// One sequence's lightning attention from and into its slot's state.
void lightning_one(LinearAttentionStateCache& states, std::int64_t layer, std::int64_t slot,
                   const char* q, const char* k, const char* v, std::int64_t tokens,
                   const DeviceTensor& slope, char* out, char* final_state, cudaStream_t stream) {
  const LinearAttentionCacheConfig& c = states.config();
  const std::int64_t state = c.num_heads * c.key_dim * c.value_dim;
  float* slot_state = reinterpret_cast<float*>(
      at(states.state_storage(layer).data(), slot * state, DType::float32));
  LightningAttentionDeviceArgs a;
  a.q = q, a.k = k, a.v = v, a.slope = slope.data<float>();
  a.initial_state = slot_state, a.out = out, a.final_state = reinterpret_cast<float*>(final_state);
  a.batch = 1, a.nheads = c.num_heads, a.seqlen = tokens, a.key_dim = c.key_dim;
  a.value_dim = c.value_dim, a.act_dtype = kLightningActivations;
  launch_lightning_attention(a, stream);
  SSMKIT_CUDA_CHECK(cudaMemcpyAsync(slot_state, final_state,
                                    static_cast<std::size_t>(state) * sizeof(float),
                                    cudaMemcpyDeviceToDevice, stream));
}

}  // namespace

void CudaStepExecutor::Impl::prefill_lightning(HybridCache& cache, std::int64_t layer,
                                               const StepLayout& s) {
  const LinearAttentionCacheConfig& c = *cache.config().linear_attention;
  const DType t = kLightningActivations;
  const std::int64_t hk = c.num_heads * c.key_dim, hv = c.num_heads * c.value_dim;
  for (std::size_t i = 0; i < s.prefill.size(); ++i) {
    const ScheduledTokens& r = *s.prefill[i];
    const std::int64_t row = s.prefill_row[i];
    lightning_one(cache.linear_attention(), layer, r.slot, at(q.data(), row * hk, t),
                  at(k.data(), row * hk, t), at(v.data(), row * hv, t), r.tokens, slope,
                  scan_out.data(), scan_final.data(), stream);
  }
}

void CudaStepExecutor::Impl::decode_lightning(HybridCache& cache, std::int64_t layer,
                                              const StepLayout& s) {
  const LinearAttentionCacheConfig& c = *cache.config().linear_attention;
  const DType t = kLightningActivations;
  const std::int64_t hk = c.num_heads * c.key_dim, hv = c.num_heads * c.value_dim;
  for (std::size_t i = 0; i < s.decode.size(); ++i) {
    const std::int64_t row = static_cast<std::int64_t>(i);
    lightning_one(cache.linear_attention(), layer, s.decode[i]->slot,
                  at(q_decode.data(), row * hk, t), at(k_decode.data(), row * hk, t),
                  at(v_decode.data(), row * hv, t), 1, slope, scan_out.data(), scan_final.data(),
                  stream);
  }
}

StepTiming CudaStepExecutor::run(const StepWork& step, HybridCache& cache) {
  Impl& m = *impl_;
  const StepLayout s = layout_of(step);
  const HybridCacheConfig& config = cache.config();
  StepTiming timing;
  if (s.rows() == 0) return timing;

  // Positions of every row, and the decode rows' slots.
  std::vector<std::int64_t> positions, slots;
  for (const ScheduledTokens* r : s.prefill) {
    for (std::int64_t p = 0; p < r->tokens; ++p) positions.push_back(r->first_position + p);
  }
  for (const ScheduledTokens* r : s.decode) {
    if (r->tokens != 1) {
      throw std::logic_error("CudaStepExecutor: a decode entry carries one token, got " +
                             std::to_string(r->tokens));
    }
    positions.push_back(r->first_position);
    slots.push_back(r->slot);
  }
  upload(m.positions, positions);
  upload(m.decode_slots, slots);
  const std::int64_t* pos = m.positions.data<const std::int64_t>();
  if (config.attention) m.prepare_attention(cache, s, pos);
  if (config.mamba2) m.prepare_mamba2(cache, s, pos);
  if (config.mamba) m.prepare_mamba(cache, s, pos);
  if (config.linear_attention) m.prepare_lightning(cache, s, pos);

  // The inputs (and any slot the cache zeroed on admission) are ready before the timed
  // kernels start on the executor's stream.
  SSMKIT_CUDA_CHECK(cudaStreamSynchronize(kStream));
  const bool gated = m.gate->active() && launches_of(s, cache) <= kMaxGatedLaunches;
  if (gated) m.gate->hold(m.stream);
  try {
    SSMKIT_CUDA_CHECK(cudaEventRecord(m.start, m.stream));
    for (std::int64_t l = 0; l < cache.num_layers() && s.prefill_rows > 0; ++l) {
      const std::int64_t cl = cache.cache_layer(l);
      switch (cache.layer_kind(l)) {
        case LayerKind::attention: m.write_kv(cache, cl, 0, s.prefill_rows); break;
        case LayerKind::mamba2: m.prefill_mamba2(cache, cl, s); break;
        case LayerKind::mamba: m.prefill_mamba(cache, cl, s); break;
        case LayerKind::linear_attention: m.prefill_lightning(cache, cl, s); break;
        case LayerKind::gated_delta_net:
        case LayerKind::kda:
        case LayerKind::mla: break;  // refused when the executor is made
      }
    }
    SSMKIT_CUDA_CHECK(cudaEventRecord(m.mid, m.stream));
    const std::int64_t nd = s.decode_rows();
    for (std::int64_t l = 0; l < cache.num_layers() && nd > 0; ++l) {
      const std::int64_t cl = cache.cache_layer(l);
      switch (cache.layer_kind(l)) {
        case LayerKind::attention: m.write_kv(cache, cl, s.prefill_rows, nd); break;
        case LayerKind::mamba2: m.decode_mamba2(cache, cl, s); break;
        case LayerKind::mamba: m.decode_mamba(cache, cl, s); break;
        case LayerKind::linear_attention: m.decode_lightning(cache, cl, s); break;
        case LayerKind::gated_delta_net:
        case LayerKind::kda:
        case LayerKind::mla: break;  // refused when the executor is made
      }
    }
    SSMKIT_CUDA_CHECK(cudaEventRecord(m.stop, m.stream));
  } catch (...) {
    m.gate->release();
    throw;
  }
  m.gate->release();
  SSMKIT_CUDA_CHECK(cudaEventSynchronize(m.stop));
  // A gate that opened by itself timed the host's enqueuing too: that step is not gated.
  timing.gated = gated && !m.gate->timed_out();
  if (gated && !timing.gated && m.gate_renewals++ < kMaxGateRenewals) m.gate = std::make_unique<LaunchGate>();
  float prefill_ms = 0.f, decode_ms = 0.f;
  SSMKIT_CUDA_CHECK(cudaEventElapsedTime(&prefill_ms, m.start, m.mid));
  SSMKIT_CUDA_CHECK(cudaEventElapsedTime(&decode_ms, m.mid, m.stop));
  timing.prefill_s = prefill_ms * 1e-3;
  timing.decode_s = decode_ms * 1e-3;
  timing.seconds = timing.prefill_s + timing.decode_s;
  return timing;
}

}  // namespace ssmkit::cuda
