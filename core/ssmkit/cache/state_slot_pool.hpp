#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "ssmkit/cache/cache_types.hpp"

namespace ssmkit {

class SnapshotReader;
class SnapshotWriter;

// Which request holds which state slot (MAX's Mamba pipeline claims a slot when a request
// is admitted and gives it back in release(request_id)). The pool hands out ids only; the
// caches own the states, and HybridCache zeros a slot's states whenever the pool hands it
// out, so a reused slot never starts from its last owner's state. The lowest free slot is
// handed out first, which keeps batches dense.
class StateSlotPool {
 public:
  explicit StateSlotPool(std::int64_t num_slots);

  // The slot given to `request`, or nullopt when every slot is taken. Admitting a request
  // twice is an InputError.
  std::optional<std::int64_t> admit(RequestId request);
  void release(RequestId request);  // an unknown request is an InputError

  bool contains(RequestId request) const { return slots_.contains(request); }
  std::int64_t slot_of(RequestId request) const;
  // state_batch_indices for a batch: each request's slot, kPadSlot where a batch position
  // has no request.
  std::vector<std::int64_t> batch_slots(std::span<const std::optional<RequestId>> batch) const;

  std::int64_t num_slots() const { return num_slots_; }
  std::int64_t slots_in_use() const { return static_cast<std::int64_t>(slots_.size()); }
  std::int64_t slots_free() const { return static_cast<std::int64_t>(free_.size()); }
  const std::map<RequestId, std::int64_t>& assignments() const { return slots_; }

  CacheMetadata metadata() const;
  void save(SnapshotWriter& out) const;
  void restore(const SnapshotReader& in);

 private:
  std::int64_t num_slots_;
  std::map<RequestId, std::int64_t> slots_;
  std::set<std::int64_t> free_;
};

}  // namespace ssmkit
