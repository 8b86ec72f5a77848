#include "ssmkit/cache/cache_config.hpp"

#include <cmath>

#include "cache_util.hpp"
#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {
namespace {

using cache_util::require_cache_dtype;
using cache_util::require_positive;

AttrValue number(std::int64_t v) { return std::vector<double>{static_cast<double>(v)}; }
AttrValue text(DType dtype) { return std::string(dtype_name(dtype)); }

// Every size below is a product of user-given counts (a config.json, a preset, flags): an
// overflow is an InputError naming the config and the product, never a wrapped number.
using Size = std::size_t;

Size mul(const std::string& where, const std::string& field, std::initializer_list<std::int64_t> factors) {
  Size out = 1;
  for (const std::int64_t f : factors) {
    out = limits::checked_mul(out, static_cast<Size>(f < 0 ? 0 : f), where, field);
  }
  return out;
}

}  // namespace

bool is_cache_dtype(DType dtype) {
  return dtype == DType::float32 || dtype == DType::bfloat16 || dtype == DType::float16 ||
         dtype == DType::float64;
}

void KVCacheConfig::validate() const {
  const std::string where = "KVCacheConfig";
  require_positive(where, "num_layers", num_layers);
  require_positive(where, "max_batch", max_batch);
  require_positive(where, "max_len", max_len);
  require_positive(where, "kv_heads", kv_heads);
  require_positive(where, "head_dim", head_dim);
  require_cache_dtype(where, "dtype", dtype);
}

std::size_t KVCacheConfig::bytes_per_token() const {
  return mul("KVCacheConfig", "2 * num_layers * kv_heads * head_dim * dtype bytes",
             {2, num_layers, kv_heads, head_dim, static_cast<std::int64_t>(dtype_size(dtype))});
}

CacheMetadata KVCacheConfig::metadata() const {
  return {{"cache_kind", std::string("kv_cache")},
          {"num_layers", number(num_layers)},
          {"max_batch", number(max_batch)},
          {"max_len", number(max_len)},
          {"kv_heads", number(kv_heads)},
          {"head_dim", number(head_dim)},
          {"dtype", text(dtype)}};
}

MemoryBudget MemoryBudget::fixed(std::size_t bytes) { return MemoryBudget{bytes, 0, 0.0}; }

MemoryBudget MemoryBudget::fraction_of(std::size_t device_memory_bytes, double utilization) {
  return MemoryBudget{0, device_memory_bytes, utilization};
}

std::size_t MemoryBudget::resolve() const {
  const std::string where = "PagedKVCacheConfig";
  const bool as_fraction = device_memory_bytes != 0 || utilization != 0.0;
  if (bytes != 0 && as_fraction) {
    throw InputError(where, "memory",
                     "either bytes or device_memory_bytes with utilization, not both");
  }
  if (bytes != 0) return bytes;
  if (!as_fraction) {
    throw InputError(where, "memory", "a budget: bytes, or device_memory_bytes with utilization");
  }
  if (device_memory_bytes == 0) {
    throw InputError(where, "memory.device_memory_bytes", "a positive number of bytes, got 0");
  }
  // Written so that NaN fails too.
  if (!(utilization > 0.0 && utilization <= 1.0)) {
    throw InputError(where, "memory.utilization",
                     "a fraction in (0, 1], got " + std::to_string(utilization));
  }
  return static_cast<std::size_t>(
      std::floor(utilization * static_cast<double>(device_memory_bytes)));
}

void PagedKVCacheConfig::validate() const {
  const std::string where = "PagedKVCacheConfig";
  require_positive(where, "num_layers", num_layers);
  require_positive(where, "kv_heads", kv_heads);
  require_positive(where, "head_dim", head_dim);
  require_positive(where, "page_size", page_size);
  require_positive(where, "max_seq_len", max_seq_len);
  require_cache_dtype(where, "dtype", dtype);
  if (latent && kv_heads != 1) {
    throw InputError(where, "kv_heads",
                     "1 for a latent (MLA) cache, got " + std::to_string(kv_heads));
  }
  const std::size_t budget = memory.resolve();
  const auto pages = static_cast<std::int64_t>(budget / bytes_per_page());
  if (pages < 2) {
    throw InputError(where, "memory",
                     "room for at least 2 pages (page 0 is the reserved dummy page); " +
                         std::to_string(budget) + " bytes hold " + std::to_string(pages) +
                         " page(s) of " + std::to_string(bytes_per_page()) + " bytes");
  }
}

std::size_t PagedKVCacheConfig::bytes_per_token() const {
  return mul("PagedKVCacheConfig", "tensors_per_layer * num_layers * kv_heads * head_dim * dtype bytes",
             {tensors_per_layer(), num_layers, kv_heads, head_dim, static_cast<std::int64_t>(dtype_size(dtype))});
}

std::size_t PagedKVCacheConfig::bytes_per_page() const {
  return limits::checked_mul(static_cast<Size>(page_size), bytes_per_token(), "PagedKVCacheConfig",
                             "page_size * bytes per token");
}

std::int64_t PagedKVCacheConfig::num_pages() const {
  return static_cast<std::int64_t>(memory.resolve() / bytes_per_page());
}

std::int64_t PagedKVCacheConfig::max_pages_per_sequence() const {
  return (max_seq_len + page_size - 1) / page_size;
}

CacheMetadata PagedKVCacheConfig::metadata() const {
  return {{"cache_kind", std::string(latent ? "paged_latent_cache" : "paged_kv_cache")},
          {"num_layers", number(num_layers)},
          {"kv_heads", number(kv_heads)},
          {"head_dim", number(head_dim)},
          {"page_size", number(page_size)},
          {"max_seq_len", number(max_seq_len)},
          {"num_pages", number(num_pages())},
          {"dtype", text(dtype)}};
}

void MambaCacheConfig::validate() const {
  const std::string where = "MambaCacheConfig";
  require_positive(where, "num_layers", num_layers);
  require_positive(where, "max_batch", max_batch);
  require_positive(where, "intermediate_size", intermediate_size);
  require_positive(where, "d_state", d_state);
  require_positive(where, "conv_kernel", conv_kernel);
  require_cache_dtype(where, "conv_dtype", conv_dtype);
  require_cache_dtype(where, "ssm_dtype", ssm_dtype);
}

std::size_t MambaCacheConfig::bytes_per_sequence() const {
  const std::string where = "MambaCacheConfig";
  const Size conv = mul(where, "num_layers * intermediate_size * conv_kernel * conv_dtype bytes",
                        {num_layers, intermediate_size, conv_kernel,
                         static_cast<std::int64_t>(dtype_size(conv_dtype))});
  const Size ssm = mul(where, "num_layers * intermediate_size * d_state * ssm_dtype bytes",
                       {num_layers, intermediate_size, d_state,
                        static_cast<std::int64_t>(dtype_size(ssm_dtype))});
  return limits::checked_add(conv, ssm, where, "conv + SSM state bytes per sequence");
}

CacheMetadata MambaCacheConfig::metadata() const {
  return {{"cache_kind", std::string("mamba_state_cache")},
          {"num_layers", number(num_layers)},
          {"max_batch", number(max_batch)},
          {"intermediate_size", number(intermediate_size)},
          {"d_state", number(d_state)},
          {"conv_kernel", number(conv_kernel)},
          {"conv_dtype", text(conv_dtype)},
          {"ssm_dtype", text(ssm_dtype)}};
}

void Mamba2CacheConfig::validate() const {
  const std::string where = "Mamba2CacheConfig";
  require_positive(where, "num_layers", num_layers);
  require_positive(where, "max_batch", max_batch);
  require_positive(where, "intermediate_size", intermediate_size);
  require_positive(where, "num_heads", num_heads);
  require_positive(where, "head_dim", head_dim);
  require_positive(where, "n_groups", n_groups);
  require_positive(where, "d_state", d_state);
  require_positive(where, "conv_kernel", conv_kernel);
  require_cache_dtype(where, "conv_dtype", conv_dtype);
  require_cache_dtype(where, "ssm_dtype", ssm_dtype);
  // Each group's B and C are shared by num_heads / n_groups heads.
  if (num_heads % n_groups != 0) {
    throw InputError(where, "n_groups",
                     "a divisor of num_heads (" + std::to_string(num_heads) + "), got " +
                         std::to_string(n_groups));
  }
  if (num_heads * head_dim != intermediate_size) {
    throw InputError(where, "intermediate_size",
                     "num_heads * head_dim = " + std::to_string(num_heads * head_dim) + ", got " +
                         std::to_string(intermediate_size));
  }
}

std::size_t Mamba2CacheConfig::bytes_per_sequence() const {
  const std::string where = "Mamba2CacheConfig";
  const Size channels = limits::checked_add(
      static_cast<Size>(intermediate_size), mul(where, "2 * n_groups * d_state", {2, n_groups, d_state}),
      where, "conv channels (intermediate_size + 2 * n_groups * d_state)");
  const Size conv = limits::checked_mul(
      channels, mul(where, "num_layers * conv_kernel * conv_dtype bytes",
                    {num_layers, conv_kernel, static_cast<std::int64_t>(dtype_size(conv_dtype))}),
      where, "num_layers * conv channels * conv_kernel * conv_dtype bytes");
  const Size ssm = mul(where, "num_layers * num_heads * head_dim * d_state * ssm_dtype bytes",
                       {num_layers, num_heads, head_dim, d_state,
                        static_cast<std::int64_t>(dtype_size(ssm_dtype))});
  return limits::checked_add(conv, ssm, where, "conv + SSM state bytes per sequence");
}

CacheMetadata Mamba2CacheConfig::metadata() const {
  return {{"cache_kind", std::string("mamba2_state_cache")},
          {"num_layers", number(num_layers)},
          {"max_batch", number(max_batch)},
          {"intermediate_size", number(intermediate_size)},
          {"num_heads", number(num_heads)},
          {"head_dim", number(head_dim)},
          {"n_groups", number(n_groups)},
          {"d_state", number(d_state)},
          {"conv_kernel", number(conv_kernel)},
          {"conv_dtype", text(conv_dtype)},
          {"ssm_dtype", text(ssm_dtype)}};
}

void LinearAttentionCacheConfig::validate() const {
  const std::string where = "LinearAttentionCacheConfig";
  require_positive(where, "num_layers", num_layers);
  require_positive(where, "max_batch", max_batch);
  require_positive(where, "num_heads", num_heads);
  require_positive(where, "key_dim", key_dim);
  require_positive(where, "value_dim", value_dim);
  require_cache_dtype(where, "dtype", dtype);
}

std::size_t LinearAttentionCacheConfig::bytes_per_sequence() const {
  return mul("LinearAttentionCacheConfig", "num_layers * num_heads * key_dim * value_dim * dtype bytes",
             {num_layers, num_heads, key_dim, value_dim, static_cast<std::int64_t>(dtype_size(dtype))});
}

CacheMetadata LinearAttentionCacheConfig::metadata() const {
  return {{"cache_kind", std::string("linear_attention_state_cache")},
          {"num_layers", number(num_layers)},
          {"max_batch", number(max_batch)},
          {"num_heads", number(num_heads)},
          {"key_dim", number(key_dim)},
          {"value_dim", number(value_dim)},
          {"dtype", text(dtype)}};
}

void DeltaNetCacheConfig::validate() const {
  const std::string where = "DeltaNetCacheConfig";
  require_positive(where, "num_layers", num_layers);
  require_positive(where, "max_batch", max_batch);
  require_positive(where, "num_k_heads", num_k_heads);
  require_positive(where, "num_v_heads", num_v_heads);
  require_positive(where, "head_k_dim", head_k_dim);
  require_positive(where, "head_v_dim", head_v_dim);
  require_positive(where, "conv_kernel", conv_kernel);
  require_cache_dtype(where, "conv_dtype", conv_dtype);
  require_cache_dtype(where, "state_dtype", state_dtype);
  // Each q/k head serves num_v_heads / num_k_heads value heads (grouped value heads).
  if (num_v_heads % num_k_heads != 0) {
    throw InputError(where, "num_v_heads",
                     "a multiple of num_k_heads (" + std::to_string(num_k_heads) + "), got " +
                         std::to_string(num_v_heads));
  }
}

std::size_t DeltaNetCacheConfig::bytes_per_sequence() const {
  const std::string where = "DeltaNetCacheConfig";
  // conv channels: 2 * num_k_heads * head_k_dim + num_v_heads * head_v_dim
  const Size channels = limits::checked_add(
      mul(where, "2 * num_k_heads * head_k_dim", {2, num_k_heads, head_k_dim}),
      mul(where, "num_v_heads * head_v_dim", {num_v_heads, head_v_dim}), where, "conv channels");
  const Size conv = limits::checked_mul(
      channels, mul(where, "num_layers * conv_kernel * conv_dtype bytes",
                    {num_layers, conv_kernel, static_cast<std::int64_t>(dtype_size(conv_dtype))}),
      where, "num_layers * conv channels * conv_kernel * conv_dtype bytes");
  const Size state = mul(where, "num_layers * num_v_heads * head_k_dim * head_v_dim * state_dtype bytes",
                         {num_layers, num_v_heads, head_k_dim, head_v_dim,
                          static_cast<std::int64_t>(dtype_size(state_dtype))});
  return limits::checked_add(conv, state, where, "conv + recurrent state bytes per sequence");
}

CacheMetadata DeltaNetCacheConfig::metadata() const {
  return {{"cache_kind", std::string("delta_net_state_cache")},
          {"num_layers", number(num_layers)},
          {"max_batch", number(max_batch)},
          {"num_k_heads", number(num_k_heads)},
          {"num_v_heads", number(num_v_heads)},
          {"head_k_dim", number(head_k_dim)},
          {"head_v_dim", number(head_v_dim)},
          {"conv_kernel", number(conv_kernel)},
          {"conv_dtype", text(conv_dtype)},
          {"state_dtype", text(state_dtype)}};
}

}  // namespace ssmkit
