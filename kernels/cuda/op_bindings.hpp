#pragma once
// One op call's device buffers: uploaded from the host params, the device args pointing at
// them, and the results read back. CudaBackend's ops are upload + launch + download through
// these; `bench` clones them into rotating input sets and times launch() alone.
#include <cuda_runtime.h>

#include <vector>

#include "causal_conv1d_device.hpp"
#include "chunk_scan_device.hpp"
#include "device_buffer.hpp"
#include "gated_rmsnorm_device.hpp"
#include "lightning_attention_device.hpp"
#include "paged_kv_device.hpp"
#include "selective_scan_device.hpp"
#include "selective_state_update_device.hpp"
#include "ssmkit/bench/op_params.hpp"

namespace ssmkit::cuda {

// Buffers by index; outputs are filled with NaN bytes at creation so that an element a
// kernel fails to write shows up in the comparison. Copying makes independent device copies
// (a binding's copy is another input set).
class BufferSet {
 public:
  BufferSet() = default;
  BufferSet(const BufferSet& other);
  BufferSet& operator=(const BufferSet&) = delete;
  BufferSet(BufferSet&&) = default;
  BufferSet& operator=(BufferSet&&) = default;
  int input(const Tensor& host, DType dtype);
  int output(DType dtype, Shape shape);
  const DeviceTensor& operator[](int i) const { return buffers_[static_cast<std::size_t>(i)]; }
  template <class T = void>
  T* ptr(int i) const { return buffers_[static_cast<std::size_t>(i)].data<T>(); }

 private:
  std::vector<DeviceTensor> buffers_;
};

// Each binding: constructed from host params (upload), copied for another input set,
// launch() on a stream, result() to read back; the CudaBackend op is all three in a row.
class CausalConv1dBinding {
 public:
  explicit CausalConv1dBinding(const CausalConv1dParams& p);
  void launch(cudaStream_t s) const { launch_causal_conv1d(args(), s); }
  CausalConv1dDeviceArgs args() const;
  CausalConv1dResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  CausalConv1dDeviceArgs proto_;
  BufferSet b_;
  int x_ = -1, weight_ = -1, bias_ = -1, init_ = -1, out_ = -1, final_ = -1, conv_ = -1;
};

class CausalConv1dUpdateBinding {
 public:
  explicit CausalConv1dUpdateBinding(const CausalConv1dUpdateParams& p);
  void launch(cudaStream_t s) const { launch_causal_conv1d_update(args(), s); }
  CausalConv1dUpdateDeviceArgs args() const;
  CausalConv1dUpdateResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  CausalConv1dUpdateDeviceArgs proto_;
  BufferSet b_;
  int x_ = -1, state_ = -1, weight_ = -1, bias_ = -1, out_ = -1;
};

class SelectiveScanBinding {
 public:
  explicit SelectiveScanBinding(const SelectiveScanParams& p);
  void launch(cudaStream_t s) const { launch_selective_scan(args(), s); }
  SelectiveScanDeviceArgs args() const;
  SelectiveScanResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  SelectiveScanDeviceArgs proto_;
  BufferSet b_;
  int u_ = -1, delta_ = -1, A_ = -1, B_ = -1, C_ = -1, D_ = -1, z_ = -1, bias_ = -1, out_ = -1,
      last_ = -1;
};

class SelectiveStateUpdateBinding {
 public:
  explicit SelectiveStateUpdateBinding(const SelectiveStateUpdateParams& p);
  void launch(cudaStream_t s) const { launch_selective_state_update(args(), s); }
  SelectiveStateUpdateDeviceArgs args() const;
  SelectiveStateUpdateResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  SelectiveStateUpdateDeviceArgs proto_;
  BufferSet b_;
  int state_ = -1, x_ = -1, dt_ = -1, A_ = -1, B_ = -1, C_ = -1, D_ = -1, z_ = -1, bias_ = -1,
      slots_ = -1, out_ = -1;
};

class GatedRmsNormBinding {
 public:
  explicit GatedRmsNormBinding(const GatedRmsNormParams& p);
  void launch(cudaStream_t s) const { launch_gated_rmsnorm(args(), s); }
  GatedRmsNormDeviceArgs args() const;
  GatedRmsNormResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  GatedRmsNormDeviceArgs proto_;
  BufferSet b_;
  int x_ = -1, z_ = -1, weight_ = -1, bias_ = -1, out_ = -1;
};

class LightningAttentionBinding {
 public:
  explicit LightningAttentionBinding(const LightningAttentionParams& p);
  void launch(cudaStream_t s) const { launch_lightning_attention(args(), s); }
  LightningAttentionDeviceArgs args() const;
  LightningAttentionResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  LightningAttentionDeviceArgs proto_;
  BufferSet b_;
  int q_ = -1, k_ = -1, v_ = -1, slope_ = -1, init_ = -1, out_ = -1, final_ = -1;
};

class ChunkScanBinding {
 public:
  explicit ChunkScanBinding(const ChunkScanParams& p);
  void launch(cudaStream_t s) const { launch_chunk_scan(args(), s); }
  ChunkScanDeviceArgs args() const;
  ChunkScanResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  ChunkScanDeviceArgs proto_;
  BufferSet b_;
  int x_ = -1, dt_ = -1, A_ = -1, B_ = -1, C_ = -1, D_ = -1, z_ = -1, bias_ = -1, init_ = -1,
      seq_idx_ = -1, cu_ = -1, out_ = -1, final_ = -1, varlen_ = -1, workspace_ = -1;
};

// The cache is written in place, as an engine's is.
class PagedKvWriteBinding {
 public:
  explicit PagedKvWriteBinding(const PagedKvWriteParams& p);
  void launch(cudaStream_t s) const { launch_paged_kv_write(args(), s); }
  PagedKvWriteDeviceArgs args() const;
  PagedKvWriteResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  PagedKvWriteDeviceArgs proto_;
  BufferSet b_;
  int key_ = -1, value_ = -1, key_cache_ = -1, value_cache_ = -1, slots_ = -1;
};

class PagedKvGatherBinding {
 public:
  explicit PagedKvGatherBinding(const PagedKvGatherParams& p);
  void launch(cudaStream_t s) const { launch_paged_kv_gather(args(), s); }
  PagedKvGatherDeviceArgs args() const;
  PagedKvGatherResult result() const;
  NamedTensors outputs() const { return named_outputs(result()); }

 private:
  PagedKvGatherDeviceArgs proto_;
  BufferSet b_;
  int key_cache_ = -1, value_cache_ = -1, tables_ = -1, lens_ = -1, key_ = -1, value_ = -1;
};

// The bandwidth reference: one device-to-device copy.
class MemoryCopyBinding {
 public:
  explicit MemoryCopyBinding(const MemoryCopyParams& p);
  MemoryCopyBinding(const MemoryCopyBinding& other)
      : MemoryCopyBinding(MemoryCopyParams{other.bytes_}) {}
  MemoryCopyBinding(MemoryCopyBinding&&) = default;
  void launch(cudaStream_t s) const;
  NamedTensors outputs() const { return {}; }

 private:
  std::int64_t bytes_ = 0;
  DeviceTensor src_, dst_;
};

}  // namespace ssmkit::cuda
