// Each shape follows vllm/model_executor/layers/mamba/mamba_utils.py
// MambaStateShapeCalculator (upstream main of 2026-05; the 2025-11 code gives the same
// byte counts, see docs/budget-vllm.md), written from the formulas, not the code.
#include "ssmkit/engine/vllm_state_shapes.hpp"

#include <algorithm>
#include <sstream>

#include "ssmkit/error.hpp"

namespace ssmkit::vllm {
namespace {

void require_positive(std::string_view family, std::string_view dim, std::int64_t value) {
  if (value < 1) {
    throw InputError(std::string(family) + " state", std::string(dim),
                     "a positive size, got " + std::to_string(value));
  }
}

void require_tp(std::int64_t tp) {
  if (tp < 1) throw InputError("--tp", "", "a positive tensor-parallel degree, got " + std::to_string(tp));
}

// vLLM's vllm.distributed.divide: the sharded dimension must divide evenly.
std::int64_t divide(std::string_view family, std::string_view dim, std::int64_t value,
                    std::int64_t tp) {
  if (value % tp != 0) {
    throw InputError("--tp", std::string(family) + " " + std::string(dim) + " " + std::to_string(value),
                     "a tensor-parallel degree that divides it (vLLM shards it evenly), got " +
                         std::to_string(tp));
  }
  return value / tp;
}

StateTensor conv_tensor(std::string name, std::int64_t state_len, std::int64_t dim, CacheDType dtype) {
  return StateTensor{std::move(name), {state_len, dim}, dtype};
}

}  // namespace

std::size_t dtype_bytes(CacheDType dtype) {
  switch (dtype) {
    case CacheDType::float32: return 4;
    case CacheDType::bfloat16:
    case CacheDType::float16: return 2;
    case CacheDType::fp8_e4m3:
    case CacheDType::fp8_e5m2: return 1;
  }
  return 0;
}

std::string_view dtype_name(CacheDType dtype) {
  switch (dtype) {
    case CacheDType::float32: return "float32";
    case CacheDType::bfloat16: return "bfloat16";
    case CacheDType::float16: return "float16";
    case CacheDType::fp8_e4m3: return "fp8_e4m3";
    case CacheDType::fp8_e5m2: return "fp8_e5m2";
  }
  return "?";
}

std::size_t StateTensor::bytes() const {
  std::size_t n = dtype_bytes(dtype);
  for (const std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::size_t StateShape::bytes() const {
  std::size_t n = 0;
  for (const StateTensor& t : tensors) n += t.bytes();
  return n;
}

std::string StateShape::describe() const {
  std::ostringstream o;
  const char* sep = "";
  for (const StateTensor& t : tensors) {
    o << sep << t.name << " (";
    for (std::size_t i = 0; i < t.shape.size(); ++i) o << (i ? ", " : "") << t.shape[i];
    o << ") " << dtype_name(t.dtype);
    sep = " + ";
  }
  return o.str();
}

StateShape mamba1_state(std::int64_t tp, std::int64_t intermediate_size, std::int64_t state_size,
                        std::int64_t conv_kernel, CacheDType conv_dtype, CacheDType ssm_dtype) {
  require_tp(tp);
  require_positive("mamba1", "intermediate_size", intermediate_size);
  require_positive("mamba1", "state_size", state_size);
  require_positive("mamba1", "conv_kernel", conv_kernel);
  const std::int64_t dim = divide("mamba1", "intermediate_size", intermediate_size, tp);
  return StateShape{"mamba1",
                    {conv_tensor("conv", conv_kernel - 1, dim, conv_dtype),
                     StateTensor{"ssm", {dim, state_size}, ssm_dtype}}};
}

StateShape mamba2_state(std::int64_t tp, std::int64_t intermediate_size, std::int64_t n_groups,
                        std::int64_t num_heads, std::int64_t head_dim, std::int64_t state_size,
                        std::int64_t conv_kernel, std::int64_t num_spec, CacheDType conv_dtype,
                        CacheDType ssm_dtype) {
  require_tp(tp);
  require_positive("mamba2", "intermediate_size", intermediate_size);
  require_positive("mamba2", "n_groups", n_groups);
  require_positive("mamba2", "num_heads", num_heads);
  require_positive("mamba2", "head_dim", head_dim);
  require_positive("mamba2", "state_size", state_size);
  require_positive("mamba2", "conv_kernel", conv_kernel);
  // extra_groups_for_head_shards: groups that do not divide the degree are replicated up to it.
  const std::int64_t groups = n_groups % tp == 0 ? n_groups : n_groups + (tp - n_groups);
  const std::int64_t conv_dim = intermediate_size + 2 * groups * state_size;
  return StateShape{
      "mamba2",
      {conv_tensor("conv", conv_kernel - 1 + num_spec, divide("mamba2", "conv dim", conv_dim, tp), conv_dtype),
       StateTensor{"ssm", {divide("mamba2", "num_heads", num_heads, tp), head_dim, state_size}, ssm_dtype}}};
}

StateShape gated_delta_net_state(std::int64_t tp, std::int64_t num_k_heads, std::int64_t num_v_heads,
                                 std::int64_t head_k_dim, std::int64_t head_v_dim,
                                 std::int64_t conv_kernel, std::int64_t num_spec,
                                 CacheDType conv_dtype, CacheDType ssm_dtype) {
  require_tp(tp);
  require_positive("gated_delta_net", "num_k_heads", num_k_heads);
  require_positive("gated_delta_net", "num_v_heads", num_v_heads);
  require_positive("gated_delta_net", "head_k_dim", head_k_dim);
  require_positive("gated_delta_net", "head_v_dim", head_v_dim);
  require_positive("gated_delta_net", "conv_kernel", conv_kernel);
  // The conv runs over q, k and v together: 2 * Hk * Dk + Hv * Dv channels.
  const std::int64_t conv_dim = 2 * num_k_heads * head_k_dim + num_v_heads * head_v_dim;
  return StateShape{
      "gated_delta_net",
      {conv_tensor("conv", conv_kernel - 1 + num_spec, divide("gated_delta_net", "conv dim", conv_dim, tp),
                   conv_dtype),
       StateTensor{"ssm",
                   {divide("gated_delta_net", "num_v_heads", num_v_heads, tp), head_v_dim, head_k_dim},
                   ssm_dtype}}};
}

StateShape kda_state(std::int64_t tp, std::int64_t num_heads, std::int64_t head_dim,
                     std::int64_t num_k_heads, std::int64_t head_k_dim, std::int64_t conv_kernel,
                     CacheDType conv_dtype) {
  require_tp(tp);
  require_positive("kda", "num_heads", num_heads);
  require_positive("kda", "head_dim", head_dim);
  require_positive("kda", "num_k_heads", num_k_heads);
  require_positive("kda", "head_k_dim", head_k_dim);
  require_positive("kda", "conv_kernel", conv_kernel);
  const std::int64_t v_dim = divide("kda", "num_heads * head_dim", num_heads * head_dim, tp);
  const std::int64_t k_dim = divide("kda", "num_k_heads * head_k_dim", num_k_heads * head_k_dim, tp);
  // The recurrent state is float32 whatever the cache dtypes (kda_state_dtype).
  return StateShape{"kda",
                    {conv_tensor("conv_q", conv_kernel - 1, v_dim, conv_dtype),
                     conv_tensor("conv_k", conv_kernel - 1, k_dim, conv_dtype),
                     conv_tensor("conv_v", conv_kernel - 1, k_dim, conv_dtype),
                     StateTensor{"ssm", {divide("kda", "num_heads", num_heads, tp), head_dim, head_dim},
                                 CacheDType::float32}}};
}

StateShape linear_attention_state(std::int64_t tp, std::int64_t num_heads, std::int64_t head_dim,
                                  CacheDType dtype) {
  require_tp(tp);
  require_positive("linear_attention", "num_heads", num_heads);
  require_positive("linear_attention", "head_dim", head_dim);
  if (num_heads < tp) {
    throw InputError("--tp", "linear_attention num_heads " + std::to_string(num_heads),
                     "a tensor-parallel degree no larger than the head count, got " + std::to_string(tp));
  }
  return StateShape{"linear_attention", {StateTensor{"ssm", {num_heads / tp, head_dim, head_dim}, dtype}}};
}

StateShape short_conv_state(std::int64_t tp, std::int64_t intermediate_size, std::int64_t conv_kernel,
                            CacheDType dtype) {
  require_tp(tp);
  require_positive("short_conv", "intermediate_size", intermediate_size);
  require_positive("short_conv", "conv_kernel", conv_kernel);
  return StateShape{"short_conv",
                    {conv_tensor("conv", conv_kernel - 1,
                                 divide("short_conv", "intermediate_size", intermediate_size, tp), dtype)}};
}

std::size_t attention_bytes_per_token(std::int64_t tp, std::int64_t kv_heads, std::int64_t head_dim,
                                      CacheDType kv_dtype) {
  require_tp(tp);
  require_positive("attention", "kv_heads", kv_heads);
  require_positive("attention", "head_dim", head_dim);
  const std::int64_t heads = std::max<std::int64_t>(1, kv_heads / tp);
  return 2 * static_cast<std::size_t>(heads) * static_cast<std::size_t>(head_dim) * dtype_bytes(kv_dtype);
}

std::size_t mla_bytes_per_token(std::int64_t kv_lora_rank, std::int64_t qk_rope_head_dim,
                                CacheDType kv_dtype) {
  require_positive("mla", "kv_lora_rank", kv_lora_rank);
  require_positive("mla", "qk_rope_head_dim", qk_rope_head_dim);
  return static_cast<std::size_t>(kv_lora_rank + qk_rope_head_dim) * dtype_bytes(kv_dtype);
}

}  // namespace ssmkit::vllm
