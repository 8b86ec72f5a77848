#include "ssmkit/cache/state_slot_pool.hpp"

#include "cache_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {

StateSlotPool::StateSlotPool(std::int64_t num_slots) : num_slots_(num_slots) {
  cache_util::require_positive("StateSlotPool", "num_slots", num_slots);
  for (std::int64_t slot = 0; slot < num_slots; ++slot) free_.insert(slot);
}

std::optional<std::int64_t> StateSlotPool::admit(RequestId request) {
  if (contains(request)) {
    throw InputError("StateSlotPool::admit", "request",
                     "a request without a slot; request " + std::to_string(request) +
                         " already holds slot " + std::to_string(slots_.at(request)));
  }
  if (free_.empty()) return std::nullopt;
  const std::int64_t slot = *free_.begin();
  free_.erase(free_.begin());
  slots_.emplace(request, slot);
  return slot;
}

void StateSlotPool::release(RequestId request) {
  const std::int64_t slot = slot_of(request);
  slots_.erase(request);
  free_.insert(slot);
}

std::int64_t StateSlotPool::slot_of(RequestId request) const {
  const auto it = slots_.find(request);
  if (it == slots_.end()) {
    throw InputError("StateSlotPool", "request",
                     "a request holding a slot, got unknown request " + std::to_string(request));
  }
  return it->second;
}

std::vector<std::int64_t> StateSlotPool::batch_slots(
    std::span<const std::optional<RequestId>> batch) const {
  std::vector<std::int64_t> slots;
  for (const auto& request : batch) slots.push_back(request ? slot_of(*request) : kPadSlot);
  return slots;
}

CacheMetadata StateSlotPool::metadata() const {
  return {{"cache_kind", std::string("state_slot_pool")},
          {"num_slots", std::vector<double>{static_cast<double>(num_slots_)}}};
}

void StateSlotPool::save(SnapshotWriter& out) const {
  std::vector<std::int64_t> requests, slots;
  for (const auto& [request, slot] : slots_) {
    requests.push_back(static_cast<std::int64_t>(request));
    slots.push_back(slot);
  }
  out.integers("requests", requests);
  out.integers("slots", slots);
  out.metadata(metadata());
}

void StateSlotPool::restore(const SnapshotReader& in) {
  in.check_metadata(metadata());
  const auto requests = in.integers("requests");
  const auto slots = in.integers("slots");
  if (slots.size() != requests.size()) in.fail("slots", "one slot per request");
  StateSlotPool fresh(num_slots_);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto request = static_cast<RequestId>(requests[i]);
    if (fresh.contains(request) || !fresh.free_.erase(slots[i])) {
      in.fail("slots", "distinct requests holding distinct slots in [0, " +
                           std::to_string(num_slots_) + ")");
    }
    fresh.slots_.emplace(request, slots[i]);
  }
  *this = std::move(fresh);
}

}  // namespace ssmkit
