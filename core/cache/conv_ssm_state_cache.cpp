#include "ssmkit/cache/conv_ssm_state_cache.hpp"

#include <algorithm>
#include <utility>

#include "cache_util.hpp"
#include "ssmkit/cache/cache_snapshot.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {

ConvSsmStateCache::ConvSsmStateCache(Layout layout, StorageAllocator& allocator)
    : layout_(std::move(layout)),
      allocator_(&allocator),
      positions_(static_cast<std::size_t>(layout_.max_batch), 0) {
  for (std::int64_t layer = 0; layer < layout_.num_layers; ++layer) {
    const std::string prefix = layout_.kind + " " + cache_util::layer_name(layer);
    conv_.emplace_back(prefix + " conv_state", layout_.conv_dtype, layout_.max_batch,
                       Shape{layout_.conv_channels, layout_.conv_kernel}, allocator);
    ssm_.emplace_back(prefix + " ssm_state", layout_.ssm_dtype, layout_.max_batch,
                      layout_.ssm_slot_shape, allocator);
  }
}

const SlottedTensor& ConvSsmStateCache::conv(const std::string& where, std::int64_t layer) const {
  cache_util::require_index(layout_.kind + "::" + where, "layer", layer, num_layers());
  return conv_[layer];
}

const SlottedTensor& ConvSsmStateCache::ssm(const std::string& where, std::int64_t layer) const {
  cache_util::require_index(layout_.kind + "::" + where, "layer", layer, num_layers());
  return ssm_[layer];
}

SlottedTensor& ConvSsmStateCache::conv(const std::string& where, std::int64_t layer) {
  return const_cast<SlottedTensor&>(std::as_const(*this).conv(where, layer));
}

SlottedTensor& ConvSsmStateCache::ssm(const std::string& where, std::int64_t layer) {
  return const_cast<SlottedTensor&>(std::as_const(*this).ssm(where, layer));
}

Tensor ConvSsmStateCache::conv_window(std::int64_t layer, std::int64_t slot) const {
  return conv("conv_window", layer).read(slot);
}

void ConvSsmStateCache::set_conv_window(std::int64_t layer, std::int64_t slot,
                                        const Tensor& window) {
  conv("set_conv_window", layer).write(slot, window);
}

Tensor ConvSsmStateCache::gather_conv_windows(std::int64_t layer,
                                              std::span<const std::int64_t> slots) const {
  return conv("gather_conv_windows", layer).gather(slots);
}

void ConvSsmStateCache::scatter_conv_windows(std::int64_t layer,
                                             std::span<const std::int64_t> slots,
                                             const Tensor& windows) {
  conv("scatter_conv_windows", layer).scatter(slots, windows);
}

void ConvSsmStateCache::update_conv_windows(std::int64_t layer, std::span<const std::int64_t> slots,
                                            const Tensor& columns) {
  const std::string where = layout_.kind + "::update_conv_windows";
  SlottedTensor& windows = conv("update_conv_windows", layer);
  cache_util::require_slots(where, slots, max_batch());
  const auto rows = static_cast<std::int64_t>(slots.size());
  const std::int64_t C = layout_.conv_channels, W = layout_.conv_kernel;
  const std::int64_t n = columns.defined() && columns.rank() == 3 ? columns.dim(2) : 0;
  cache_util::require_shape(where, "columns", columns, {rows, C, n});
  CacheTensor& storage = windows.storage();
  const std::int64_t kept = std::max<std::int64_t>(W - n, 0);  // old columns that stay
  const std::int64_t taken = W - kept;                         // new columns that enter
  for (std::int64_t row = 0; row < rows; ++row) {
    if (slots[row] == kPadSlot) continue;
    // The slot's windows make one host round trip, however many channels it has.
    const Tensor old_windows = storage.read_rows(slots[row], 1);  // (1, C, W)
    Tensor windows_now(old_windows.dtype(), old_windows.shape());
    for (std::int64_t c = 0; c < C; ++c) {
      // Raw bytes: a column already stored keeps its exact value as it moves.
      cache_util::copy_elements(old_windows, c * W + W - kept, windows_now, c * W, kept);
      cache_util::copy_elements(columns, (row * C + c) * n + (n - taken), windows_now,
                                c * W + kept, taken);
    }
    storage.write_rows(slots[row], windows_now);
  }
}

Tensor ConvSsmStateCache::conv_initial_states(std::int64_t layer,
                                              std::span<const std::int64_t> slots) const {
  const Tensor windows = conv("conv_initial_states", layer).gather(slots);
  const auto rows = static_cast<std::int64_t>(slots.size());
  const std::int64_t C = layout_.conv_channels, W = layout_.conv_kernel;
  Tensor out(windows.dtype(), {rows, C, W - 1});
  for (std::int64_t i = 0; i < rows * C; ++i) {
    cache_util::copy_elements(windows, i * W + 1, out, i * (W - 1), W - 1);
  }
  return out;
}

Tensor ConvSsmStateCache::ssm_state(std::int64_t layer, std::int64_t slot) const {
  return ssm("ssm_state", layer).read(slot);
}

void ConvSsmStateCache::set_ssm_state(std::int64_t layer, std::int64_t slot, const Tensor& state) {
  ssm("set_ssm_state", layer).write(slot, state);
}

Tensor ConvSsmStateCache::gather_ssm_states(std::int64_t layer,
                                            std::span<const std::int64_t> slots) const {
  return ssm("gather_ssm_states", layer).gather(slots);
}

void ConvSsmStateCache::scatter_ssm_states(std::int64_t layer, std::span<const std::int64_t> slots,
                                           const Tensor& states) {
  ssm("scatter_ssm_states", layer).scatter(slots, states);
}

std::int64_t ConvSsmStateCache::position(std::int64_t slot) const {
  cache_util::require_index(layout_.kind + "::position", "slot", slot, max_batch());
  return positions_[slot];
}

void ConvSsmStateCache::advance_positions(std::span<const std::int64_t> slots,
                                          std::int64_t tokens) {
  const std::string where = layout_.kind + "::advance_positions";
  cache_util::require_slots(where, slots, max_batch());
  if (tokens < 0) throw InputError(where, "tokens", "non-negative, got " + std::to_string(tokens));
  for (const std::int64_t slot : slots) {
    if (slot != kPadSlot) positions_[slot] += tokens;
  }
}

void ConvSsmStateCache::advance_seqlen_offset(std::int64_t tokens) {
  if (tokens < 0) {
    throw InputError(layout_.kind + "::advance_seqlen_offset", "tokens",
                     "non-negative, got " + std::to_string(tokens));
  }
  seqlen_offset_ += tokens;
}

void ConvSsmStateCache::reset_slot(std::int64_t slot) {
  cache_util::require_index(layout_.kind + "::reset_slot", "slot", slot, max_batch());
  for (auto& c : conv_) c.zero(slot);
  for (auto& s : ssm_) s.zero(slot);
  positions_[slot] = 0;
}

void ConvSsmStateCache::reset_all() {
  for (auto& c : conv_) c.zero_all();
  for (auto& s : ssm_) s.zero_all();
  std::fill(positions_.begin(), positions_.end(), 0);
  seqlen_offset_ = 0;
}

const CacheTensor& ConvSsmStateCache::conv_storage(std::int64_t layer) const {
  return conv("conv_storage", layer).storage();
}
CacheTensor& ConvSsmStateCache::conv_storage(std::int64_t layer) {
  return conv("conv_storage", layer).storage();
}
const CacheTensor& ConvSsmStateCache::ssm_storage(std::int64_t layer) const {
  return ssm("ssm_storage", layer).storage();
}
CacheTensor& ConvSsmStateCache::ssm_storage(std::int64_t layer) {
  return ssm("ssm_storage", layer).storage();
}

StorageTensors ConvSsmStateCache::storage() const {
  StorageTensors named;
  for (std::int64_t layer = 0; layer < num_layers(); ++layer) {
    named.emplace_back(cache_util::layer_name(layer) + "/conv_state", &conv_[layer].storage());
    named.emplace_back(cache_util::layer_name(layer) + "/ssm_state", &ssm_[layer].storage());
  }
  return named;
}

void ConvSsmStateCache::save_state(SnapshotWriter& out) const {
  for (const auto& [name, tensor] : storage()) out.tensor(name, *tensor);
  out.integers("positions", positions_);
  out.integers("seqlen_offset", std::vector<std::int64_t>{seqlen_offset_});
}

void ConvSsmStateCache::restore_state(const SnapshotReader& in) {
  for (std::int64_t layer = 0; layer < num_layers(); ++layer) {
    in.tensor_into(cache_util::layer_name(layer) + "/conv_state", conv_[layer].storage());
    in.tensor_into(cache_util::layer_name(layer) + "/ssm_state", ssm_[layer].storage());
  }
  auto positions = in.integers("positions");
  const auto offset = in.integers("seqlen_offset");
  if (positions.size() != positions_.size() ||
      std::any_of(positions.begin(), positions.end(), [](std::int64_t p) { return p < 0; })) {
    in.fail("positions", "a non-negative position per slot (" + std::to_string(max_batch()) + ")");
  }
  if (offset.size() != 1 || offset[0] < 0) in.fail("seqlen_offset", "one non-negative count");
  positions_ = std::move(positions);
  seqlen_offset_ = offset[0];
}

}  // namespace ssmkit
