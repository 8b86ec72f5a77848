#include "ssmkit/cache/paged_kv_cache.hpp"

#include <algorithm>
#include <set>

#include "cache_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

// Checks one layer's rows: K and V each (tokens, kv_heads, head_dim); a latent (MLA) cache
// takes its rows in `key` and no `value`.
void check_rows(const std::string& where, const std::string& field, const KeyValue& kv,
                const PagedKVCacheConfig& c, std::int64_t tokens) {
  cache_util::require_shape(where, field + ".key", kv.key, {tokens, c.kv_heads, c.head_dim});
  if (!c.latent) {
    cache_util::require_shape(where, field + ".value", kv.value, {tokens, c.kv_heads, c.head_dim});
  } else if (kv.value.defined()) {
    throw InputError(where, field + ".value",
                     "no value rows: a latent (MLA) cache keeps one tensor, passed as key");
  }
}

// Tokens in one layer's rows, after checking their shapes.
std::int64_t token_count(const std::string& where, const std::string& field, const KeyValue& kv,
                         const PagedKVCacheConfig& c) {
  const std::int64_t n = kv.key.defined() && kv.key.rank() == 3 ? kv.key.dim(0) : 0;
  check_rows(where, field, kv, c, n);
  return n;
}

}  // namespace

PagedKVCache::PagedKVCache(PagedKVCacheConfig config, StorageAllocator& allocator)
    : config_(cache_util::validated(std::move(config))),
      allocator_(&allocator),
      pages_(config_.num_pages(), config_.page_size) {
  const Shape shape{config_.num_pages(), config_.page_size, config_.kv_heads, config_.head_dim};
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    key_pages_.emplace_back(allocator, config_.dtype, shape);
    if (!config_.latent) value_pages_.emplace_back(allocator, config_.dtype, shape);
  }
}

const PagedKVCache::Sequence& PagedKVCache::sequence(const std::string& where,
                                                     RequestId request) const {
  const auto it = sequences_.find(request);
  if (it == sequences_.end()) {
    throw InputError(where, "request",
                     "a request in the cache, got unknown request " + std::to_string(request));
  }
  return it->second;
}

void PagedKVCache::check_layers(const std::string& where, std::span<const KeyValue> layers,
                                std::int64_t tokens) const {
  if (static_cast<std::int64_t>(layers.size()) != config_.num_layers) {
    throw InputError(where, "layers",
                     "one KeyValue per layer (" + std::to_string(config_.num_layers) + "), got " +
                         std::to_string(layers.size()));
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    check_rows(where, "layers[" + std::to_string(i) + "]", layers[i], config_, tokens);
  }
}

CacheStatus PagedKVCache::extend(RequestId request, std::int64_t tokens) {
  if (tokens < 0) {
    throw InputError("PagedKVCache::extend", "tokens",
                     "a non-negative count, got " + std::to_string(tokens));
  }
  const auto it = sequences_.find(request);
  const std::int64_t length = it == sequences_.end() ? 0 : it->second.length;
  const auto held = it == sequences_.end() ? 0 : static_cast<std::int64_t>(it->second.pages.size());
  if (length + tokens > config_.max_seq_len) return CacheStatus::sequence_full;
  auto fresh = pages_.allocate(request, pages_.pages_for_tokens(length + tokens) - held);
  if (!fresh) return CacheStatus::out_of_pages;
  Sequence& seq = sequences_[request];
  seq.pages.insert(seq.pages.end(), fresh->begin(), fresh->end());
  seq.length += tokens;
  return CacheStatus::ok;
}

void PagedKVCache::write_token(std::int64_t layer, const Sequence& seq, std::int64_t position,
                               const KeyValue& kv, std::int64_t row) {
  const std::int64_t row_elements = config_.kv_heads * config_.head_dim;
  const std::int64_t page = seq.pages[position / config_.page_size];
  const std::int64_t offset =
      (page * config_.page_size + position % config_.page_size) * row_elements;
  cache_util::store_elements(kv.key, row * row_elements, key_pages_[layer], offset, row_elements);
  if (config_.latent) return;
  cache_util::store_elements(kv.value, row * row_elements, value_pages_[layer], offset,
                             row_elements);
}

void PagedKVCache::write(RequestId request, std::int64_t layer, std::int64_t first_position,
                         const KeyValue& kv) {
  const std::string where = "PagedKVCache::write";
  const Sequence& seq = sequence(where, request);
  cache_util::require_index(where, "layer", layer, config_.num_layers);
  const std::int64_t n = token_count(where, "kv", kv, config_);
  if (first_position < 0 || first_position + n > seq.length) {
    throw InputError(where, "first_position",
                     "positions within the request's " + std::to_string(seq.length) +
                         " tokens (extend first), got [" + std::to_string(first_position) + ", " +
                         std::to_string(first_position + n) + ")");
  }
  for (std::int64_t t = 0; t < n; ++t) write_token(layer, seq, first_position + t, kv, t);
}

CacheStatus PagedKVCache::prefill(RequestId request, std::span<const KeyValue> layers) {
  const std::string where = "PagedKVCache::prefill";
  if (contains(request) && length(request) > 0) {
    throw InputError(where, "request",
                     "a new request; request " + std::to_string(request) + " already holds " +
                         std::to_string(length(request)) + " tokens");
  }
  const std::int64_t n = layers.empty() ? 0
                                        : token_count(where, "layers[0]", layers[0], config_);
  check_layers(where, layers, n);
  if (const CacheStatus status = extend(request, n); status != CacheStatus::ok) return status;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    write(request, layer, 0, layers[layer]);
  }
  return CacheStatus::ok;
}

CacheStatus PagedKVCache::append(RequestId request, std::span<const KeyValue> layers) {
  const std::string where = "PagedKVCache::append";
  const std::int64_t start = sequence(where, request).length;
  const std::int64_t n = layers.empty() ? 0
                                        : token_count(where, "layers[0]", layers[0], config_);
  check_layers(where, layers, n);
  if (const CacheStatus status = extend(request, n); status != CacheStatus::ok) return status;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    write(request, layer, start, layers[layer]);
  }
  return CacheStatus::ok;
}

CacheStatus PagedKVCache::append_decode(std::span<const RequestId> requests,
                                        std::span<const KeyValue> layers) {
  const std::string where = "PagedKVCache::append_decode";
  check_layers(where, layers, static_cast<std::int64_t>(requests.size()));
  std::set<RequestId> distinct;
  for (const RequestId request : requests) {
    sequence(where, request);
    if (!distinct.insert(request).second) {
      throw InputError(where, "requests",
                       "each request once; " + std::to_string(request) + " appears twice");
    }
  }
  // The whole batch is checked before anything grows, so a shortage leaves every request
  // untouched.
  std::int64_t pages_needed = 0;
  for (const RequestId request : requests) {
    const Sequence& seq = sequences_.at(request);
    if (seq.length + 1 > config_.max_seq_len) return CacheStatus::sequence_full;
    pages_needed +=
        pages_.pages_for_tokens(seq.length + 1) - static_cast<std::int64_t>(seq.pages.size());
  }
  if (pages_needed > pages_.pages_free()) return CacheStatus::out_of_pages;
  for (std::size_t row = 0; row < requests.size(); ++row) {
    if (extend(requests[row], 1) != CacheStatus::ok) {
      throw std::logic_error("PagedKVCache::append_decode: pages counted but not available");
    }
    const Sequence& seq = sequences_.at(requests[row]);
    for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
      write_token(layer, seq, seq.length - 1, layers[layer], static_cast<std::int64_t>(row));
    }
  }
  return CacheStatus::ok;
}

KeyValue PagedKVCache::gather(RequestId request, std::int64_t layer) const {
  const std::string where = "PagedKVCache::gather";
  const Sequence& seq = sequence(where, request);
  cache_util::require_index(where, "layer", layer, config_.num_layers);
  const std::int64_t row_elements = config_.kv_heads * config_.head_dim;
  const Shape shape{seq.length, config_.kv_heads, config_.head_dim};
  KeyValue out{Tensor(config_.dtype, shape), config_.latent ? Tensor() : Tensor(config_.dtype, shape)};
  for (std::size_t i = 0; i < seq.pages.size(); ++i) {
    const auto first = static_cast<std::int64_t>(i) * config_.page_size;
    const std::int64_t tokens = std::min(config_.page_size, seq.length - first);
    const std::int64_t src = seq.pages[i] * config_.page_size * row_elements;
    key_pages_[layer].read_elements(src, tokens * row_elements, out.key, first * row_elements);
    if (config_.latent) continue;
    value_pages_[layer].read_elements(src, tokens * row_elements, out.value,
                                      first * row_elements);
  }
  return out;
}

void PagedKVCache::release(RequestId request) {
  const Sequence& seq = sequence("PagedKVCache::release", request);
  pages_.free(request, seq.pages);
  sequences_.erase(request);
}

std::int64_t PagedKVCache::length(RequestId request) const {
  return sequence("PagedKVCache::length", request).length;
}

std::span<const std::int64_t> PagedKVCache::page_table(RequestId request) const {
  return sequence("PagedKVCache::page_table", request).pages;
}

std::vector<RequestId> PagedKVCache::requests() const {
  std::vector<RequestId> ids;
  for (const auto& [id, seq] : sequences_) ids.push_back(id);
  return ids;
}

Tensor PagedKVCache::page_table_tensor(std::span<const RequestId> requests) const {
  const std::int64_t width = config_.max_pages_per_sequence();
  Tensor table(DType::int64, {static_cast<std::int64_t>(requests.size()), width});
  auto out = table.span<std::int64_t>();
  std::fill(out.begin(), out.end(), PageManager::kDummyPage);
  for (std::size_t row = 0; row < requests.size(); ++row) {
    const auto pages = page_table(requests[row]);
    std::copy(pages.begin(), pages.end(), out.begin() + static_cast<std::int64_t>(row) * width);
  }
  return table;
}

const CacheTensor& PagedKVCache::key_pages(std::int64_t layer) const {
  cache_util::require_index("PagedKVCache::key_pages", "layer", layer, config_.num_layers);
  return key_pages_[layer];
}
CacheTensor& PagedKVCache::key_pages(std::int64_t layer) {
  cache_util::require_index("PagedKVCache::key_pages", "layer", layer, config_.num_layers);
  return key_pages_[layer];
}
const CacheTensor& PagedKVCache::value_pages(std::int64_t layer) const {
  return const_cast<PagedKVCache*>(this)->value_pages(layer);
}
CacheTensor& PagedKVCache::value_pages(std::int64_t layer) {
  if (config_.latent) {
    throw InputError("PagedKVCache::value_pages", "latent",
                     "a K/V cache; a latent (MLA) cache keeps its rows in key_pages only");
  }
  cache_util::require_index("PagedKVCache::value_pages", "layer", layer, config_.num_layers);
  return value_pages_[layer];
}

CacheUsage PagedKVCache::usage() const {
  CacheUsage usage;
  usage.bytes_allocated = static_cast<std::size_t>(config_.num_pages()) * config_.bytes_per_page();
  usage.bytes_per_token = config_.bytes_per_token();
  usage.pages_in_use = pages_.pages_in_use();
  usage.pages_free = pages_.pages_free();
  return usage;
}

StorageTensors PagedKVCache::storage() const {
  StorageTensors named;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    named.emplace_back(cache_util::layer_name(layer) + "/key_pages", &key_pages_[layer]);
    if (!config_.latent) {
      named.emplace_back(cache_util::layer_name(layer) + "/value_pages", &value_pages_[layer]);
    }
  }
  return named;
}

void PagedKVCache::save(SnapshotWriter& out) const {
  for (const auto& [name, tensor] : storage()) out.tensor(name, *tensor);
  std::vector<std::int64_t> ids, lengths, offsets{0}, tables;
  for (const auto& [id, seq] : sequences_) {
    ids.push_back(static_cast<std::int64_t>(id));
    lengths.push_back(seq.length);
    tables.insert(tables.end(), seq.pages.begin(), seq.pages.end());
    offsets.push_back(static_cast<std::int64_t>(tables.size()));
  }
  out.integers("requests", ids);
  out.integers("lengths", lengths);
  out.integers("page_table_offsets", offsets);
  out.integers("page_tables", tables);
  out.integers("free_pages", pages_.free_pages());
  out.metadata(config_.metadata());
}

void PagedKVCache::restore(const SnapshotReader& in) {
  in.check_metadata(config_.metadata());
  PagedKVCache fresh(config_, *allocator_);
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    in.tensor_into(cache_util::layer_name(layer) + "/key_pages", fresh.key_pages_[layer]);
    if (config_.latent) continue;
    in.tensor_into(cache_util::layer_name(layer) + "/value_pages", fresh.value_pages_[layer]);
  }
  const auto ids = in.integers("requests");
  const auto lengths = in.integers("lengths");
  const auto offsets = in.integers("page_table_offsets");
  const auto tables = in.integers("page_tables");
  if (lengths.size() != ids.size()) in.fail("lengths", "one length per request");
  if (offsets.size() != ids.size() + 1 || offsets.front() != 0 ||
      offsets.back() != static_cast<std::int64_t>(tables.size()) ||
      !std::is_sorted(offsets.begin(), offsets.end())) {
    in.fail("page_table_offsets", "ascending offsets from 0 to the number of page-table entries");
  }
  std::vector<std::optional<RequestId>> owners(static_cast<std::size_t>(config_.num_pages()));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto id = static_cast<RequestId>(ids[i]);
    Sequence seq{lengths[i], {tables.begin() + offsets[i], tables.begin() + offsets[i + 1]}};
    if (seq.length < 0 || seq.length > config_.max_seq_len ||
        static_cast<std::int64_t>(seq.pages.size()) != fresh.pages_.pages_for_tokens(seq.length)) {
      in.fail("page_tables", "ceil(length / page_size) pages for each request, request " +
                                 std::to_string(id) + " has " + std::to_string(seq.pages.size()) +
                                 " for " + std::to_string(seq.length) + " tokens");
    }
    for (const std::int64_t page : seq.pages) {
      if (page <= PageManager::kDummyPage || page >= config_.num_pages() || owners[page]) {
        in.fail("page_tables", "pages in [1, " + std::to_string(config_.num_pages()) +
                                   ") owned once; page " + std::to_string(page) + " is not");
      }
      owners[page] = id;
    }
    fresh.sequences_.emplace(id, std::move(seq));
  }
  fresh.pages_ = PageManager::from_state(in.file(), config_.page_size, in.integers("free_pages"),
                                         std::move(owners));
  *this = std::move(fresh);
}

}  // namespace ssmkit
