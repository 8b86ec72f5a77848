#include "ssmkit/bench/op_params.hpp"

#include <chrono>
#include <cstring>
#include <vector>

#include "ssmkit/backend.hpp"

namespace ssmkit {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

std::string op_name(const OpParams& op) {
  return std::visit(
      Overloaded{
          [](const CausalConv1dParams&) { return std::string("causal_conv1d"); },
          [](const CausalConv1dUpdateParams&) { return std::string("causal_conv1d_update"); },
          [](const SelectiveScanParams&) { return std::string("selective_scan"); },
          [](const SelectiveStateUpdateParams&) { return std::string("selective_state_update"); },
          [](const ChunkScanParams&) { return std::string("mamba_chunk_scan_combined"); },
          [](const GatedRmsNormParams&) { return std::string("gated_rmsnorm"); },
          [](const LightningAttentionParams&) { return std::string("lightning_attention"); },
          [](const PagedKvWriteParams&) { return std::string("paged_kv_write"); },
          [](const PagedKvGatherParams&) { return std::string("paged_kv_gather"); },
          [](const MemoryCopyParams&) { return std::string("memory_copy"); },
      },
      op);
}

NamedTensors named_outputs(const CausalConv1dResult& r) {
  return {{"out", r.out}, {"final_states", r.final_states}, {"conv_state", r.conv_state}};
}
NamedTensors named_outputs(const CausalConv1dUpdateResult& r) {
  return {{"out", r.out}, {"conv_state", r.conv_state}};
}
NamedTensors named_outputs(const SelectiveScanResult& r) {
  return {{"out", r.out}, {"last_state", r.last_state}};
}
NamedTensors named_outputs(const SelectiveStateUpdateResult& r) {
  return {{"out", r.out}, {"state", r.state}};
}
NamedTensors named_outputs(const ChunkScanResult& r) {
  NamedTensors out = {{"out", r.out}, {"final_states", r.final_states}};
  if (r.varlen_states.defined()) out["varlen_states"] = r.varlen_states;
  return out;
}
NamedTensors named_outputs(const GatedRmsNormResult& r) { return {{"out", r.out}}; }
NamedTensors named_outputs(const LightningAttentionResult& r) {
  return {{"out", r.out}, {"final_state", r.final_state}};
}

NamedTensors named_outputs(const PagedKvWriteResult& r) {
  return {{"key_cache", r.key_cache}, {"value_cache", r.value_cache}};
}
NamedTensors named_outputs(const PagedKvGatherResult& r) {
  return {{"key", r.key}, {"value", r.value}};
}

NamedTensors run_op(Backend& backend, const OpParams& op) {
  return std::visit(
      Overloaded{
          [&](const CausalConv1dParams& p) { return named_outputs(backend.causal_conv1d(p)); },
          [&](const CausalConv1dUpdateParams& p) {
            return named_outputs(backend.causal_conv1d_update(p));
          },
          [&](const SelectiveScanParams& p) { return named_outputs(backend.selective_scan(p)); },
          [&](const SelectiveStateUpdateParams& p) {
            return named_outputs(backend.selective_state_update(p));
          },
          [&](const ChunkScanParams& p) {
            return named_outputs(backend.mamba_chunk_scan_combined(p));
          },
          [&](const GatedRmsNormParams& p) { return named_outputs(backend.gated_rmsnorm(p)); },
          [&](const LightningAttentionParams& p) {
            return named_outputs(backend.lightning_attention(p));
          },
          [&](const PagedKvWriteParams& p) { return named_outputs(backend.paged_kv_write(p)); },
          [&](const PagedKvGatherParams& p) { return named_outputs(backend.paged_kv_gather(p)); },
          [&](const MemoryCopyParams& p) {
            std::vector<std::byte> src(static_cast<std::size_t>(p.bytes), std::byte{1});
            std::vector<std::byte> dst(src.size());
            std::memcpy(dst.data(), src.data(), src.size());
            return NamedTensors{};
          },
      },
      op);
}

namespace {

// Host tensors in and out; for the CPU reference that is the op itself.
class HostPreparedOp final : public PreparedOp {
 public:
  HostPreparedOp(Backend& backend, OpParams op) : backend_(backend), op_(std::move(op)) {
    if (const auto* copy = std::get_if<MemoryCopyParams>(&op_)) {
      src_.assign(static_cast<std::size_t>(copy->bytes), std::byte{1});
      dst_.resize(src_.size());
    }
  }
  int copies() const override { return 1; }
  void run(int) override { call(); }
  double time_pass() override {
    const auto start = std::chrono::steady_clock::now();
    call();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  NamedTensors outputs(int) override { return last_; }
  std::string timer() const override { return "steady clock"; }

 private:
  void call() {
    if (!src_.empty()) {
      std::memcpy(dst_.data(), src_.data(), src_.size());
      return;
    }
    last_ = run_op(backend_, op_);
  }
  Backend& backend_;
  OpParams op_;
  NamedTensors last_;
  std::vector<std::byte> src_, dst_;
};

}  // namespace

std::unique_ptr<PreparedOp> prepare_on_host(Backend& backend, const OpParams& op) {
  return std::make_unique<HostPreparedOp>(backend, op);
}

}  // namespace ssmkit
