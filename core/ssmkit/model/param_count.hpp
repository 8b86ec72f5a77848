#pragma once
// The parameter count of a model from its config.json, and the bytes its weights take on one
// tensor-parallel rank: what `budget --reserve auto` subtracts from the GPU's memory before
// the caches get the rest. The formulas per layer family, and the modeling code each follows,
// are in docs/budget-vllm.md ("Weights from the config").
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ssmkit {

// One kind of weight, all layers together.
struct ParameterPart {
  std::string name;         // "embeddings", "attention", "moe experts", "mamba", "norms", ...
  std::int64_t count = 0;
  // Divided among tensor-parallel ranks (vocab-parallel embeddings, column/row-parallel
  // projections, experts); else every rank holds it whole (norms, routers, ReplicatedLinear).
  bool sharded = true;
  // A linear layer's weight, what a checkpoint's quantization_config quantises; embeddings,
  // the LM head, norms, convs, A/D/dt parameters, biases and routers keep the model dtype.
  bool quantizable = false;
};

struct ParameterCount {
  std::string model_type;
  std::vector<ParameterPart> parts;      // the model vLLM loads without a draft
  std::vector<ParameterPart> mtp_parts;  // its MTP layers (loaded with --speculative-method mtp)
  std::int64_t mtp_layers = 0;           // the config's MTP layers; 0: none declared

  std::int64_t total() const;
  std::int64_t mtp_total() const;
};

// InputError naming `where` and the key for a missing or wrong key, and for a model_type
// whose weights ssmkit does not count (the message says to give --reserve SIZE instead).
ParameterCount count_parameters(std::string_view config_json_text, const std::string& where);

// How the checkpoint stores its linear weights: quantization_config when present.
struct WeightFormat {
  double quantized_bits = 0.0;  // bits per quantizable parameter, scales included; 0: not quantized
  std::string description;      // "awq, 4 bits, group 128 (4.25 bits with scales)"
};
// InputError naming quantization_config's key for a method ssmkit cannot size.
WeightFormat read_weight_format(std::string_view config_json_text, const std::string& where);

// Bytes of one rank's weights: sharded parts divided by the degree (rounded up), replicated
// parts whole; quantizable parts at the quantized bits when quantized, everything else at
// dtype_bytes per parameter.
std::size_t weight_bytes_per_rank(const std::vector<ParameterPart>& parts, const WeightFormat& format,
                                  std::size_t dtype_bytes, std::int64_t tensor_parallel);

}  // namespace ssmkit
