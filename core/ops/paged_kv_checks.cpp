#include <algorithm>
#include <vector>

#include "ssmkit/error.hpp"
#include "ssmkit/ops/paged_kv.hpp"

namespace ssmkit {
namespace {

void require_shape(const std::string& where, const std::string& field, const Tensor& t,
                   const Shape& shape) {
  if (!t.defined() || t.shape() != shape) {
    throw InputError(where, field,
                     "expected shape " + shape_str(shape) + ", got " +
                         (t.defined() ? shape_str(t.shape()) : std::string("nothing")));
  }
}

void require_positive(const std::string& where, const std::string& field, std::int64_t v) {
  if (v <= 0) throw InputError(where, field, "must be positive, got " + std::to_string(v));
}

}  // namespace

void check_paged_kv_write(const PagedKvWriteParams& p, const std::string& where,
                          const std::string& prefix) {
  require_positive(where, prefix + "num_pages", p.num_pages);
  require_positive(where, prefix + "page_size", p.page_size);
  require_positive(where, prefix + "kv_heads", p.kv_heads);
  require_positive(where, prefix + "head_dim", p.head_dim);
  if (p.num_tokens < 0) {
    throw InputError(where, prefix + "num_tokens", "must be >= 0, got " + std::to_string(p.num_tokens));
  }
  const Shape rows{p.num_tokens, p.kv_heads, p.head_dim};
  const Shape cache{p.num_pages, p.page_size, p.kv_heads, p.head_dim};
  require_shape(where, prefix + "key", p.key, rows);
  require_shape(where, prefix + "value", p.value, rows);
  require_shape(where, prefix + "key_cache", p.key_cache, cache);
  require_shape(where, prefix + "value_cache", p.value_cache, cache);
  if (static_cast<std::int64_t>(p.slot_mapping.size()) != p.num_tokens) {
    throw InputError(where, prefix + "slot_mapping",
                     "one slot per token (" + std::to_string(p.num_tokens) + "), got " +
                         std::to_string(p.slot_mapping.size()));
  }
  const std::int64_t slots = p.num_pages * p.page_size;
  // Two tokens for one slot would leave the cache depending on which write lands last.
  std::vector<std::int64_t> used;
  for (std::size_t t = 0; t < p.slot_mapping.size(); ++t) {
    const std::int64_t slot = p.slot_mapping[t];
    if (slot < 0) continue;
    if (slot >= slots) {
      throw InputError(where, prefix + "slot_mapping[" + std::to_string(t) + "]",
                       "a slot in [0, num_pages * page_size = " + std::to_string(slots) +
                           ") or negative for padding, got " + std::to_string(slot));
    }
    used.push_back(slot);
  }
  std::sort(used.begin(), used.end());
  if (const auto dup = std::adjacent_find(used.begin(), used.end()); dup != used.end()) {
    throw InputError(where, prefix + "slot_mapping",
                     "distinct slots; slot " + std::to_string(*dup) + " is written twice");
  }
}

void check_paged_kv_gather(const PagedKvGatherParams& p, const std::string& where,
                           const std::string& prefix) {
  require_positive(where, prefix + "batch", p.batch);
  require_positive(where, prefix + "num_pages", p.num_pages);
  require_positive(where, prefix + "page_size", p.page_size);
  require_positive(where, prefix + "kv_heads", p.kv_heads);
  require_positive(where, prefix + "head_dim", p.head_dim);
  require_positive(where, prefix + "max_pages_per_seq", p.max_pages_per_seq);
  const Shape cache{p.num_pages, p.page_size, p.kv_heads, p.head_dim};
  require_shape(where, prefix + "key_cache", p.key_cache, cache);
  require_shape(where, prefix + "value_cache", p.value_cache, cache);
  if (static_cast<std::int64_t>(p.block_tables.size()) != p.batch * p.max_pages_per_seq) {
    throw InputError(where, prefix + "block_tables",
                     "batch * max_pages_per_seq = " +
                         std::to_string(p.batch * p.max_pages_per_seq) + " entries, got " +
                         std::to_string(p.block_tables.size()));
  }
  if (static_cast<std::int64_t>(p.seq_lens.size()) != p.batch) {
    throw InputError(where, prefix + "seq_lens",
                     "one length per sequence (" + std::to_string(p.batch) + "), got " +
                         std::to_string(p.seq_lens.size()));
  }
  const std::int64_t capacity = p.max_pages_per_seq * p.page_size;
  // The output holds max_len positions per sequence; past the block table's reach they
  // could never be filled (a max_len of 10^9 ran the backend out of memory).
  if (p.max_len < 0 || p.max_len > capacity) {
    throw InputError(where, prefix + "max_len",
                     "a length in [0, max_pages_per_seq * page_size = " + std::to_string(capacity) +
                         "], got " + std::to_string(p.max_len));
  }
  for (std::int64_t b = 0; b < p.batch; ++b) {
    const std::int64_t len = p.seq_lens[b];
    const std::string field = prefix + "seq_lens[" + std::to_string(b) + "]";
    if (len < 0 || len > capacity || len > p.max_len) {
      throw InputError(where, field,
                       "a length in [0, min(max_len = " + std::to_string(p.max_len) +
                           ", max_pages_per_seq * page_size = " + std::to_string(capacity) +
                           ")], got " + std::to_string(len));
    }
    for (std::int64_t i = 0; i * p.page_size < len; ++i) {
      const std::int64_t page = p.block_tables[b * p.max_pages_per_seq + i];
      if (page < 0 || page >= p.num_pages) {
        const std::string entry = std::to_string(b) + ", " + std::to_string(i);
        throw InputError(where, prefix + "block_tables[" + entry + "]",
                         "a page in [0, " + std::to_string(p.num_pages) + ") for the " +
                             std::to_string(len) + " tokens of sequence " + std::to_string(b) +
                             ", got " + std::to_string(page));
      }
    }
  }
}

}  // namespace ssmkit
