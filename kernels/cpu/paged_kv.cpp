#include <algorithm>

#include "cpu_backend.hpp"

namespace ssmkit {

template <>
PagedKvWriteResult cpu_kernel(const PagedKvWriteParams& p) {
  check_paged_kv_write(p, "paged_kv_write");
  const std::int64_t row = p.kv_heads * p.head_dim;
  PagedKvWriteResult r{p.key_cache.to(DType::float64), p.value_cache.to(DType::float64)};
  const auto key = p.key.to(DType::float64), value = p.value.to(DType::float64);
  const auto src_k = key.span<double>(), src_v = value.span<double>();
  auto dst_k = r.key_cache.span<double>(), dst_v = r.value_cache.span<double>();
  for (std::int64_t t = 0; t < p.num_tokens; ++t) {
    const std::int64_t slot = p.slot_mapping[t];
    if (slot < 0) continue;  // padding token
    std::copy_n(src_k.begin() + t * row, row, dst_k.begin() + slot * row);
    std::copy_n(src_v.begin() + t * row, row, dst_v.begin() + slot * row);
  }
  return r;
}

template <>
PagedKvGatherResult cpu_kernel(const PagedKvGatherParams& p) {
  check_paged_kv_gather(p, "paged_kv_gather");
  const std::int64_t row = p.kv_heads * p.head_dim;
  const Shape shape{p.batch, p.max_len, p.kv_heads, p.head_dim};
  PagedKvGatherResult r{Tensor(DType::float64, shape), Tensor(DType::float64, shape)};
  const auto key_cache = p.key_cache.to(DType::float64);
  const auto value_cache = p.value_cache.to(DType::float64);
  const auto src_k = key_cache.span<double>(), src_v = value_cache.span<double>();
  auto dst_k = r.key.span<double>(), dst_v = r.value.span<double>();
  for (std::int64_t b = 0; b < p.batch; ++b) {
    for (std::int64_t pos = 0; pos < p.seq_lens[b]; ++pos) {  // the rest stays zero
      const std::int64_t page = p.block_tables[b * p.max_pages_per_seq + pos / p.page_size];
      const std::int64_t slot = page * p.page_size + pos % p.page_size;
      const std::int64_t out = (b * p.max_len + pos) * row;
      std::copy_n(src_k.begin() + slot * row, row, dst_k.begin() + out);
      std::copy_n(src_v.begin() + slot * row, row, dst_v.begin() + out);
    }
  }
  return r;
}

}  // namespace ssmkit
