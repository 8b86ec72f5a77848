#include "ssmkit/bench/op_params.hpp"

#include <chrono>
#include <cstring>
#include <vector>

#include "ssmkit/backend.hpp"

namespace ssmkit {

std::string op_name(const OpParams& op) {
  return std::visit(
      [](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        return std::string(OpTraits<P>::name);
      },
      op);
}

NamedTensors named_outputs(const OpResult& result) {
  NamedTensors out;
  for_each_op([&]<class P>() {
    if (const auto* r = std::get_if<ResultOf<P>>(&result)) out = OpDescriptor<P>::outputs(*r);
  });
  return out;
}

NamedTensors run_op(Backend& backend, const OpParams& op) { return named_outputs(backend.run(op)); }

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
