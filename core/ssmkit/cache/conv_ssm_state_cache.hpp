#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ssmkit/cache/cache_types.hpp"
#include "ssmkit/cache/slotted_tensor.hpp"

namespace ssmkit {

class SnapshotReader;
class SnapshotWriter;

// What Mamba1 and Mamba2 caches share: per layer a conv window and an SSM state per slot,
// plus each slot's position. They differ only in sizes, so this class holds the behaviour
// and MambaStateCache / Mamba2StateCache add their config.
//
// The conv window holds the last conv_kernel inputs of the short convolution, newest last:
// HF transformers' and EasyDeL's layout. vLLM and causal-conv1d keep only conv_kernel - 1
// columns; conv_initial_states() gives that view.
class ConvSsmStateCache {
 public:
  // The sizes a derived cache computes from its config.
  struct Layout {
    std::string kind;  // for error messages: "Mamba2StateCache"
    std::int64_t num_layers = 0, max_batch = 0, conv_channels = 0, conv_kernel = 0;
    Shape ssm_slot_shape;
    DType conv_dtype = DType::float32, ssm_dtype = DType::float32;
  };

  std::int64_t num_layers() const { return static_cast<std::int64_t>(conv_.size()); }
  std::int64_t max_batch() const { return static_cast<std::int64_t>(positions_.size()); }
  std::int64_t conv_channels() const { return layout_.conv_channels; }
  std::int64_t conv_kernel() const { return layout_.conv_kernel; }

  Tensor conv_window(std::int64_t layer, std::int64_t slot) const;  // (channels, kernel)
  void set_conv_window(std::int64_t layer, std::int64_t slot, const Tensor& window);
  // (slots.size(), channels, kernel); kPadSlot rows read as zeros.
  Tensor gather_conv_windows(std::int64_t layer, std::span<const std::int64_t> slots) const;
  void scatter_conv_windows(std::int64_t layer, std::span<const std::int64_t> slots,
                            const Tensor& windows);
  // Feeds new conv inputs (slots.size(), channels, n) into the windows: each shifts left
  // by n and takes the new columns at its end. From a fresh (zero) slot this gives HF's
  // prefill window, the prompt's last inputs left-padded with zeros; with n = 1 it is a
  // decode step.
  void update_conv_windows(std::int64_t layer, std::span<const std::int64_t> slots,
                           const Tensor& columns);
  // causal-conv1d's initial_states: the newest kernel - 1 columns, (slots.size(), channels,
  // kernel - 1).
  Tensor conv_initial_states(std::int64_t layer, std::span<const std::int64_t> slots) const;

  Tensor ssm_state(std::int64_t layer, std::int64_t slot) const;
  void set_ssm_state(std::int64_t layer, std::int64_t slot, const Tensor& state);
  Tensor gather_ssm_states(std::int64_t layer, std::span<const std::int64_t> slots) const;
  void scatter_ssm_states(std::int64_t layer, std::span<const std::int64_t> slots,
                          const Tensor& states);

  // Tokens a slot's states have absorbed since it was reset.
  std::int64_t position(std::int64_t slot) const;
  void advance_positions(std::span<const std::int64_t> slots, std::int64_t tokens);
  // Tokens the batch as a whole has advanced since reset_all (EasyDeL's seqlen_offset,
  // HF's "has previous state" test).
  std::int64_t seqlen_offset() const { return seqlen_offset_; }
  void advance_seqlen_offset(std::int64_t tokens);

  // Zeros every layer's states of one slot and its position: the next request starts
  // from nothing of the last one.
  void reset_slot(std::int64_t slot);
  void reset_all();

  // One layer's storage, for kernels that address slots themselves: conv windows
  // (max_batch, channels, kernel), newest column last, and SSM states
  // (max_batch, *ssm_slot_shape).
  const CacheTensor& conv_storage(std::int64_t layer) const;
  CacheTensor& conv_storage(std::int64_t layer);
  const CacheTensor& ssm_storage(std::int64_t layer) const;
  CacheTensor& ssm_storage(std::int64_t layer);

  StorageTensors storage() const;

 protected:
  // `allocator` holds every layer's states and must outlive the cache.
  ConvSsmStateCache(Layout layout, StorageAllocator& allocator);
  StorageAllocator& allocator() const { return *allocator_; }

  void save_state(SnapshotWriter& out) const;
  void restore_state(const SnapshotReader& in);  // into a freshly built cache

 private:
  const SlottedTensor& conv(const std::string& where, std::int64_t layer) const;
  const SlottedTensor& ssm(const std::string& where, std::int64_t layer) const;
  SlottedTensor& conv(const std::string& where, std::int64_t layer);
  SlottedTensor& ssm(const std::string& where, std::int64_t layer);

  Layout layout_;
  StorageAllocator* allocator_;
  std::vector<SlottedTensor> conv_, ssm_;
  std::vector<std::int64_t> positions_;
  std::int64_t seqlen_offset_ = 0;
};

}  // namespace ssmkit
