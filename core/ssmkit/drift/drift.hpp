#pragma once
// `drift`: how far a recurrent state stored in float32, bfloat16 or float16 drifts from an
// exact float64 run over a long decode, one layer at a time.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ssmkit/cache/hybrid_cache.hpp"
#include "ssmkit/drift/state_rounding.hpp"
#include "ssmkit/tensor.hpp"

namespace ssmkit {

class Backend;
struct ModelSpec;

// One decode step's activations: float64 tensors holding float32 values, so that a kernel
// reading float32 activations and the float64 reference see the very same numbers.
struct DriftStepInputs {
  Tensor x, dt, B, C;  // Mamba1 / Mamba2, in SelectiveStateUpdateParams' shapes
  // Lightning: q, k, v in LightningAttentionParams' shapes with seqlen 1. Gated DeltaNet and
  // KDA: q, k, v, g, beta in DeltaRuleInputs' shapes with seqlen 1.
  Tensor q, k, v;
  Tensor g, beta;
};

// The layer whose state drifts: its sizes, fixed parameters and a source of per-step inputs.
struct DriftLayer {
  LayerKind kind = LayerKind::mamba2;
  std::string description;  // shape, subset, where its parameters come from
  // SelectiveStateUpdateParams' sizes; Mamba1 is nheads 1, headdim = its channels.
  std::int64_t batch = 0, nheads = 0, headdim = 0, dstate = 0, ngroups = 1;
  // Lightning and the delta rule (Gated DeltaNet, KDA): nheads heads of q and k, v_heads
  // heads of v and of the state (lightning: v_heads == nheads).
  std::int64_t key_dim = 0, value_dim = 0, v_heads = 0;
  double scale = 0;  // the delta rule's output scale (DeltaRuleInputs::scale)
  Tensor A, D, dt_bias;  // Mamba1 / Mamba2, in SelectiveStateUpdateParams' shapes
  Tensor slope;          // lightning: (nheads)
  Tensor initial_state;  // undefined: zeros
  // Steps of the source the float64 reference runs from the initial state before the
  // decode starts (a prefill computed exactly); their inputs are not decode steps.
  std::int64_t prefill_steps = 0;
  // Steps the source can supply (prefill included); 0: unlimited.
  std::int64_t available_steps = 0;
  // The slowest per-step decay of any state element, exp(dt * A), exp(-slope) or exp(g)
  // (for a g drawn afresh every step, the geometric mean exp(E[g])): the error of a stored
  // state forgets its past over about 1 / (1 - slowest_decay) steps.
  double slowest_decay = 0;
  std::function<void(std::int64_t step, DriftStepInputs& out)> inputs;

  Shape state_shape() const;
};

// Synthetic inputs with the statistics of an initialised layer (see docs/drift.md).
struct SyntheticInputOptions {
  std::int64_t batch = 4;
  std::int64_t heads = 2;      // Mamba2, lightning and delta-rule (value) heads run; 0: all
  std::int64_t channels = 64;  // Mamba1 channels run; 0: all of them
  std::int64_t prefill = 256;  // tokens of exact prefill before the decode
  double dt_min = 0.001, dt_max = 0.1, dt_init_floor = 1e-4;  // mamba_ssm's defaults
  std::uint64_t seed = 0;
};

// The recurrent layer kinds of `model`, in order of first appearance; InputError when the
// model has no recurrent layer at all.
std::vector<LayerKind> drift_layer_kinds(const ModelSpec& model);

// One layer of `kind` of `model` with synthetic inputs.
DriftLayer synthetic_drift_layer(const ModelSpec& model, LayerKind kind,
                                 const SyntheticInputOptions& options);

// The layers recorded in an HDF5 activation trace (datasets in docs/drift.md), checked
// against `model`'s sizes; InputError naming the file and dataset on anything unexpected,
// and naming the kind for a gated_delta_net or kda group (synthetic inputs only).
std::vector<DriftLayer> drift_layers_from_file(const std::filesystem::path& path,
                                               const ModelSpec& model);

struct DriftOptions {
  std::vector<std::int64_t> checkpoints;  // ascending and positive; the run ends at the last
  std::vector<DType> state_dtypes;        // float32, bfloat16, float16
  StateRounding rounding = StateRounding::nearest;
  std::uint64_t seed = 0;  // of the stochastic rounding draws
  // Host threads for the reference's batch rows and the lanes' rounding (the caller's
  // included); 0: one per core. The numbers do not depend on it.
  std::int64_t threads = 0;
  // The backend's calls may run on several threads at once (the CPU backend): each lane's
  // step then runs on a worker too.
  bool reentrant_backend = false;
};

constexpr std::int64_t kMaxDriftThreads = 1024;

// Relative L2 and largest absolute difference of a run against float64.
struct DriftError {
  double state_rel_l2 = 0, state_max_abs = 0;
  double out_rel_l2 = 0, out_max_abs = 0;
};

struct DriftPoint {
  std::int64_t step = 0;  // decode steps done
  bool checkpoint = false;
  DriftError error;
};

// One state dtype's run.
struct DriftLane {
  DType dtype = DType::float32;
  StateRounding rounding = StateRounding::nearest;
  // The dtype the kernel was asked to keep the state in (the state_dtype of
  // SelectiveStateUpdateParams or DeltaRuleUpdateParams), or empty where the op has no such
  // choice (lightning attention).
  std::optional<DType> kernel_state_dtype;
  // Values the host changed when it stored the kernel's state in `dtype` after each step:
  // zero means the kernel itself had stored the state in `dtype`.
  std::int64_t host_rounded_values = 0;
  std::int64_t stored_values = 0;  // state elements stored, all steps together
  std::vector<DriftPoint> points;  // ascending steps
  // log(e2 / e1) / log(s2 / s1) of the state's relative error between the last two
  // checkpoints; empty with a single checkpoint.
  std::optional<double> growth_exponent;
  bool finite = true;  // false once the state overflowed (float16's range)

  std::string storage_path(const std::string& backend) const;  // which side rounds, how
  std::string verdict() const;  // "bounded", "growing", "overflowed" or "one checkpoint"
};

// Growth exponents below this count as an error that stopped growing: an error whose
// random-walk accumulation is still unchecked by decay grows with exponent 0.5.
constexpr double kBoundedGrowthExponent = 0.25;

struct DriftLayerResult {
  LayerKind kind = LayerKind::mamba2;
  std::string description;
  double slowest_decay = 0;
  std::int64_t state_elements = 0;
  double reference_state_rms = 0;  // of the float64 state at the last step
  std::vector<DriftLane> lanes;
};

// Decode steps at which errors are recorded: 1, 2, 5, 10, 20, 50, ... below the last
// checkpoint, and every checkpoint.
std::vector<std::int64_t> drift_sample_steps(const std::vector<std::int64_t>& checkpoints);

// Runs `layer` for the last checkpoint's number of decode steps on `backend` with the
// state stored in each dtype, and on `reference` (the CPU backend, float64) on the same
// inputs. The reference's steps run on worker threads beside the backend's, so the two
// may not share mutable state (CpuBackend has none). `progress(done, total)` is called as
// decode steps complete.
DriftLayerResult run_drift(Backend& backend, Backend& reference, const DriftLayer& layer,
                           const DriftOptions& options,
                           const std::function<void(std::int64_t, std::int64_t)>& progress = {});

}  // namespace ssmkit
