#pragma once
// One op call bound to the device: its tensors uploaded, its outputs allocated, its kernel
// launched on a stream, its results read back. The CUDA backend reaches every op through
// bind_op (validate, bench and the cache replays alike): each op's bind lives in its
// kernels/cuda/<family>.cu beside the kernel, and the generic code here holds no op.
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "device_buffer.hpp"
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
  // Null for an absent optional input (index -1 or an undefined host tensor).
  template <class T = void>
  T* ptr(int i) const { return i < 0 ? nullptr : buffers_[static_cast<std::size_t>(i)].data<T>(); }

 private:
  std::vector<DeviceTensor> buffers_;
};

// A bound call. launch() enqueues the op's kernels on `stream` and nothing else (no
// allocation, no host synchronisation), so it can be timed, gated and captured in a graph.
class BoundOp {
 public:
  virtual ~BoundOp() = default;
  virtual void launch(cudaStream_t stream) const = 0;
  // The outputs as the last launch left them (waits for the device).
  virtual OpResult result() const = 0;
  // Another input set: independent device copies of every buffer.
  virtual std::unique_ptr<BoundOp> clone() const = 0;
};

// A binding keeps its buffers and the device arguments without pointers (`proto`); the
// op's .cu derives from this and supplies args() (the pointers filled in from the buffers),
// read() and its launch function.
template <class Self, class Args, class Result, void (*Launch)(const Args&, cudaStream_t)>
class Binding : public BoundOp {
 public:
  void launch(cudaStream_t stream) const override { Launch(self().args(), stream); }
  OpResult result() const override { return self().read(); }
  std::unique_ptr<BoundOp> clone() const override { return std::make_unique<Self>(self()); }

 protected:
  Args proto_;
  BufferSet b_;

 private:
  const Self& self() const { return static_cast<const Self&>(*this); }
};

// The bind of every op of the list (and of the memory copy), each defined in its .cu.
template <class P>
std::unique_ptr<BoundOp> bind_op(const P& params);
#define SSMKIT_DECLARE_BIND_OP(P, R, NAME) template <> std::unique_ptr<BoundOp> bind_op<P>(const P&);
SSMKIT_FOR_EACH_OP(SSMKIT_DECLARE_BIND_OP)
SSMKIT_DECLARE_BIND_OP(MemoryCopyParams, MemoryCopyResult, "memory_copy")
#undef SSMKIT_DECLARE_BIND_OP

// Any call of OpParams bound.
std::unique_ptr<BoundOp> bind(const OpParams& op);

// Host index lists as a 1-D int64 tensor to upload.
Tensor index_tensor(const std::vector<std::int64_t>& values);

}  // namespace ssmkit::cuda
