#pragma once
// `ssmkit bench` cases: op shapes from real models by preset name, swept over batch and
// sequence length, with random non-zero inputs and the byte and FLOP floors of each call.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ssmkit/bench/op_params.hpp"
#include "ssmkit/model/model_spec.hpp"

namespace ssmkit::bench {

struct Mamba1Shape {
  std::int64_t d_inner = 0, d_state = 0, d_conv = 0;
};
struct Mamba2Shape {
  std::int64_t nheads = 0, headdim = 0, d_state = 0, ngroups = 1, d_conv = 0, chunk_size = 256;
  std::int64_t d_inner() const { return nheads * headdim; }
  std::int64_t conv_dim() const { return d_inner() + 2 * ngroups * d_state; }
};
struct LightningShape {
  std::int64_t nheads = 0, key_dim = 0, value_dim = 0;
};
struct DeltaNetShape {  // Gated DeltaNet or KDA: q/k heads, value heads, head dims, conv width
  std::int64_t nheads = 0, v_heads = 0, key_dim = 0, value_dim = 0, d_conv = 0;
};
struct AttentionShape {  // the paged KV cache of the attention layers
  std::int64_t kv_heads = 0, head_dim = 0, page_size = 16;
};

// One model's mixer-layer shapes; the ops benchmarked are those its layers run.
struct ShapePreset {
  std::string name;
  std::string source;  // where the numbers come from
  std::optional<Mamba1Shape> mamba1;
  std::optional<Mamba2Shape> mamba2;
  std::optional<LightningShape> lightning;
  std::optional<DeltaNetShape> gated_delta_net;
  std::optional<DeltaNetShape> kda;
  std::optional<AttentionShape> attention;
  // The model's layers no bench op runs yet (MLA), each as "mla (7 layers): ...": shown as
  // skips, never benchmarked as something else.
  std::vector<std::string> skipped;
};

// Every model preset (model_preset_names(), in the same spelling) and "tiny".
std::vector<std::string> preset_names();
// The preset `name` names, case-insensitively: a model preset's shapes through
// shape_preset_for(model_preset(name), 16), so bench's old lowercase names
// ("nemotron-h-8b", "minimax-text-01") are those of the model presets. InputError naming
// the known presets when `name` is none of them.
ShapePreset shape_preset(const std::string& name);
// The mixer shapes of a model (every kind its layers have, one tensor-parallel rank of 1).
// A config carries no Mamba2 chunk size, so it is 256, mamba_ssm's default; KV pages hold
// `page_size` tokens.
ShapePreset shape_preset_for(const ModelSpec& model, std::int64_t page_size);

// The ops a preset can run, in report order.
std::vector<std::string> bench_op_names();

struct SweepOptions {
  std::vector<std::int64_t> batches = {1, 8};          // prefill ops
  std::vector<std::int64_t> seqlens = {2048, 4096};    // prefill ops
  std::vector<std::int64_t> decode_batches = {1, 64, 256};
  std::vector<DType> dtypes = {DType::bfloat16};       // activations
  std::vector<DType> state_dtypes = {DType::float32, DType::bfloat16};  // decode SSM state
  std::vector<std::string> ops;  // empty: every op the preset has
};

// The fewest bytes a call must move (each input read once, each output written once, in
// the dtypes the device backend stores: activations in input_dtype, parameters in float32,
// states in their own dtype) and its arithmetic (a multiply-add counts 2, an exp, log or
// division 1). `formula` says how both were counted.
struct Traffic {
  double bytes = 0.0;
  double flops = 0.0;
  std::string formula;
};
Traffic traffic(const OpParams& op);

// How many independent input sets one timed pass rotates through: enough that a pass
// touches at least 256 MiB (five times an H100's 50 MB L2, four times an H200's 60 MB), so
// passes are not served from cache; at most 64.
int default_copies(const Traffic& traffic);

struct BenchCase {
  std::string name;    // op/preset/B=../L=../dtype[/state=..]
  std::string op;
  std::string preset;
  std::string shape;   // "B=8 D=5120 L=2048 N=16"
  std::map<std::string, std::int64_t> dims;  // every size, for machine readers
  DType dtype = DType::bfloat16;
  std::optional<DType> state_dtype;
  bool decode = false;  // one step per sequence: worth timing as a CUDA graph too
  std::uint64_t seed = 0;
  // Builds the call with random non-zero inputs (activations exactly representable in
  // `dtype`, parameters in float32); deterministic in `seed`.
  OpParams make_params() const;
};

// The cases of one preset as ops add them: named "op/preset/shape/dtype[/state=..]", each
// once, with a seed from its name.
class CaseList {
 public:
  explicit CaseList(std::string preset) : preset_(std::move(preset)) {}
  void add(std::string_view op, std::map<std::string, std::int64_t> dims, const std::string& shape,
           DType dtype, std::optional<DType> state_dtype, bool decode);
  // "B=8": one term of a shape string.
  static std::string term(const char* symbol, std::int64_t value);
  std::vector<BenchCase> take() { return std::move(cases_); }

 private:
  std::string preset_;
  std::vector<BenchCase> cases_;
};

// Every op's cases for the preset (those in sweep.ops, or all), per activation dtype.
std::vector<BenchCase> make_cases(const ShapePreset& preset, const SweepOptions& sweep);

}  // namespace ssmkit::bench
