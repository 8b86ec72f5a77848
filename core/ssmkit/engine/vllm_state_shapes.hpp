#pragma once
// The per-rank cache shapes vLLM v1 allocates for one layer, as functions of explicit
// dimensions, so that every state family (Mamba1, Mamba2, Gated DeltaNet, KDA, MiniMax
// lightning attention, short conv) is sized the same way whatever model description it
// comes from. The rules and the vLLM function each one follows are in docs/budget-vllm.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ssmkit::vllm {

// The element types vLLM sizes caches in (vllm/utils/torch_utils.py get_dtype_size): the
// float8 kinds of --kv-cache-dtype are one byte.
enum class CacheDType { float32, bfloat16, float16, fp8_e4m3, fp8_e5m2 };

std::size_t dtype_bytes(CacheDType dtype);
std::string_view dtype_name(CacheDType dtype);

// One tensor of a layer's state, one sequence, one tensor-parallel rank.
struct StateTensor {
  std::string name;                  // "conv", "ssm", "conv_q", ...
  std::vector<std::int64_t> shape;   // vLLM's SD layout: conv is (state_len, dim)
  CacheDType dtype = CacheDType::bfloat16;

  std::size_t bytes() const;
};

// Every tensor of one layer's state: what MambaSpec.page_size_bytes sums before padding.
struct StateShape {
  std::string family;  // "mamba1", "mamba2", "gated_delta_net", "kda", "linear_attention", "short_conv"
  std::vector<StateTensor> tensors;

  std::size_t bytes() const;
  std::string describe() const;  // "conv (3, 8192) bfloat16 + ssm (32, 128, 128) float32"
};

// vLLM's `divide` asserts that a sharded dimension divides evenly; here that is an
// InputError naming the dimension and the tensor-parallel degree. All sizes must be
// positive (num_spec and tensor_parallel >= 0 / >= 1).
StateShape mamba1_state(std::int64_t tensor_parallel, std::int64_t intermediate_size,
                        std::int64_t state_size, std::int64_t conv_kernel, CacheDType conv_dtype,
                        CacheDType ssm_dtype);

// Groups that do not divide the degree are replicated up to it (extra_groups_for_head_shards);
// num_spec speculative tokens widen the conv window.
StateShape mamba2_state(std::int64_t tensor_parallel, std::int64_t intermediate_size,
                        std::int64_t n_groups, std::int64_t num_heads, std::int64_t head_dim,
                        std::int64_t state_size, std::int64_t conv_kernel, std::int64_t num_spec,
                        CacheDType conv_dtype, CacheDType ssm_dtype);

StateShape gated_delta_net_state(std::int64_t tensor_parallel, std::int64_t num_k_heads,
                                 std::int64_t num_v_heads, std::int64_t head_k_dim,
                                 std::int64_t head_v_dim, std::int64_t conv_kernel,
                                 std::int64_t num_spec, CacheDType conv_dtype, CacheDType ssm_dtype);

// Three short convs (q, k, v) in the conv dtype and a float32 recurrent state.
StateShape kda_state(std::int64_t tensor_parallel, std::int64_t num_heads, std::int64_t head_dim,
                     std::int64_t num_k_heads, std::int64_t head_k_dim, std::int64_t conv_kernel,
                     CacheDType conv_dtype);

// MiniMax lightning attention: one (heads, D, D) state and no conv. vLLM floors the head
// count here (num_heads // tp) rather than asserting.
StateShape linear_attention_state(std::int64_t tensor_parallel, std::int64_t num_heads,
                                  std::int64_t head_dim, CacheDType dtype);

StateShape short_conv_state(std::int64_t tensor_parallel, std::int64_t intermediate_size,
                            std::int64_t conv_kernel, CacheDType dtype);

// K and V of one token in one attention layer of one rank: 2 * max(1, kv_heads / tp) *
// head_dim * dtype (ModelConfig.get_num_kv_heads replicates KV heads below the degree).
std::size_t attention_bytes_per_token(std::int64_t tensor_parallel, std::int64_t kv_heads,
                                      std::int64_t head_dim, CacheDType kv_dtype);
// MLA keeps one latent (kv_lora_rank + qk_rope_head_dim) per token, not sharded.
std::size_t mla_bytes_per_token(std::int64_t kv_lora_rank, std::int64_t qk_rope_head_dim,
                                CacheDType kv_dtype);

}  // namespace ssmkit::vllm
