#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ssmkit/hdf5_file.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit {

class CacheTensor;

// Identifies one request (a sequence being generated) in every cache that holds part of it.
using RequestId = std::uint64_t;

// Batch rows that carry no request point here: gathers read zeros for them and scatters skip
// them (mamba_ssm's and vLLM's pad_slot_id).
inline constexpr std::int64_t kPadSlot = -1;

// Outcomes an engine must handle: under load, running out of memory is normal, so it is
// returned rather than thrown, and the cache is left exactly as it was.
enum class [[nodiscard]] CacheStatus{ok, out_of_pages, out_of_slots, sequence_full};

std::string_view cache_status_name(CacheStatus status);

// Memory a cache holds, from its configuration's formulas. Tests check the formulas against
// the storage tensors actually allocated. Host-side bookkeeping (slot maps, page tables) is
// not counted: an engine keeps it in host memory whatever device holds the states.
struct CacheUsage {
  std::size_t bytes_allocated = 0;     // every storage tensor
  std::size_t bytes_per_sequence = 0;  // fixed-size state one sequence owns (state caches)
  std::size_t bytes_per_token = 0;     // what one more token costs (KV caches, all layers, K + V)
  std::int64_t pages_in_use = 0;       // paged KV caches only
  std::int64_t pages_free = 0;
};

// Keys and values of consecutive tokens for one layer: each (tokens, kv_heads, head_dim).
struct KeyValue {
  Tensor key, value;
};

// A cache's configuration as (name, value) attributes: what a snapshot records and what a
// restore compares, field by field, in this order.
using CacheMetadata = std::vector<std::pair<std::string, AttrValue>>;

// Storage tensors by name ("layer_0/key"), for snapshots and for checking the accounting;
// their contents, wherever they live, come to the host through CacheTensor::to_host().
using StorageTensors = std::vector<std::pair<std::string, const CacheTensor*>>;

}  // namespace ssmkit
