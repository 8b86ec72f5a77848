// The drift run: one layer's decode through a backend with the state stored in each dtype,
// beside the float64 reference on the same inputs.
#include <algorithm>
#include <cmath>
#include <future>
#include <limits>
#include <sstream>

#include "ssmkit/backend.hpp"
#include "ssmkit/bench/op_params.hpp"
#include "ssmkit/drift/drift.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {
namespace {

bool is_ssm(LayerKind kind) { return kind != LayerKind::linear_attention; }

// Every op call takes its tensors by value: a step is one call on the given state.
OpParams step_op(const DriftLayer& l, const DriftStepInputs& in, const Tensor& state,
                 DType kernel_state_dtype) {
  if (is_ssm(l.kind)) {
    SelectiveStateUpdateParams p;
    p.batch = l.batch, p.nheads = l.nheads, p.headdim = l.headdim, p.dstate = l.dstate;
    p.ngroups = l.ngroups, p.state_slots = l.batch;
    p.dt_softplus = true;
    p.input_dtype = DType::float32;
    p.state_dtype = kernel_state_dtype;
    p.state = state, p.x = in.x, p.dt = in.dt, p.A = l.A, p.B = in.B, p.C = in.C;
    p.D = l.D, p.dt_bias = l.dt_bias;
    return p;
  }
  LightningAttentionParams p;
  p.batch = l.batch, p.nheads = l.nheads, p.seqlen = 1, p.key_dim = l.key_dim;
  p.value_dim = l.value_dim, p.input_dtype = DType::float32;
  p.q = in.q, p.k = in.k, p.v = in.v, p.slope = l.slope, p.initial_state = state;
  return p;
}

struct StepResult {
  Tensor state, out;
};

StepResult run_step(Backend& backend, const DriftLayer& l, const DriftStepInputs& in,
                    const Tensor& state, DType kernel_state_dtype) {
  NamedTensors r = run_op(backend, step_op(l, in, state, kernel_state_dtype));
  const char* state_name = is_ssm(l.kind) ? "state" : "final_state";
  // Results may arrive in a device dtype; the comparison is in float64.
  return {r.at(state_name).to(DType::float64).reshaped(l.state_shape()),
          r.at("out").to(DType::float64)};
}

struct Norms {
  double rel_l2 = 0, max_abs = 0;
};
Norms compare(const Tensor& got, const Tensor& want) {
  const auto g = got.span<double>(), w = want.span<double>();
  double diff2 = 0, ref2 = 0, max_abs = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double d = g[i] - w[i];
    diff2 += d * d, ref2 += w[i] * w[i];
    max_abs = std::max(max_abs, std::isnan(d) ? INFINITY : std::fabs(d));
  }
  const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? INFINITY : 0.0);
  return {std::isnan(rel) ? INFINITY : rel, max_abs};
}

// Stochastic rounding is a choice for 16-bit states (float32 ones round to nearest in
// every engine), and it needs the kernel to hand back a wider state to round.
StateRounding lane_rounding(DType dtype, StateRounding wanted) {
  return dtype == DType::float32 ? StateRounding::nearest : wanted;
}

// The selective-state-update kernels keep float32 or bfloat16 states
// (SelectiveStateUpdateParams::state_dtype); anything else, and any state to be rounded
// stochastically, is kept in float32 by the kernel and stored by the host.
std::optional<DType> kernel_dtype_for(LayerKind kind, DType dtype, StateRounding rounding) {
  if (!is_ssm(kind)) return std::nullopt;
  const bool kernel_can = dtype == DType::float32 || dtype == DType::bfloat16;
  return rounding == StateRounding::nearest && kernel_can ? dtype : DType::float32;
}

struct Lane {
  DriftLane result;
  Tensor state;
  UniformStream draws;
};

// Stores `state` in the lane's dtype, counting the values the host had to change.
void store(Lane& lane, Tensor& state) {
  DriftLane& r = lane.result;
  for (auto& v : state.span<double>()) {
    const double stored = r.rounding == StateRounding::stochastic
                              ? round_stochastic(v, r.dtype, lane.draws.next())
                              : round_to_dtype(v, r.dtype);
    if (stored != v && !(std::isnan(stored) && std::isnan(v))) ++r.host_rounded_values;
    v = stored;
    if (!std::isfinite(v)) r.finite = false;
  }
  r.stored_values += state.numel();
}

void check_options(const DriftLayer& layer, const DriftOptions& o) {
  if (o.checkpoints.empty()) throw InputError("", "--steps", "at least one checkpoint");
  for (std::size_t i = 0; i < o.checkpoints.size(); ++i) {
    if (o.checkpoints[i] < 1 || (i > 0 && o.checkpoints[i] <= o.checkpoints[i - 1])) {
      throw InputError("", "--steps", "ascending positive step counts");
    }
  }
  if (o.state_dtypes.empty()) throw InputError("", "--state-dtypes", "at least one dtype");
  const std::int64_t needed = layer.prefill_steps + o.checkpoints.back();
  if (layer.available_steps > 0 && needed > layer.available_steps) {
    throw InputError("", "--steps",
                     "at most the " + std::to_string(layer.available_steps - layer.prefill_steps) +
                         " decode steps the inputs hold, got " + std::to_string(o.checkpoints.back()));
  }
}

}  // namespace

std::string DriftLane::storage_path(const std::string& backend) const {
  std::ostringstream o;
  const std::string name(dtype_name(dtype));
  if (kernel_state_dtype == dtype && host_rounded_values == 0) {
    o << "stored in " << name << " by the " << backend
      << " kernel (state_dtype " << name << "); the host's rounding changed no value";
    return o.str();
  }
  if (kernel_state_dtype) {
    o << "kernel state_dtype " << dtype_name(*kernel_state_dtype);
  } else {
    o << "the op has no state dtype: the " << backend << " kernel returns its own precision";
  }
  o << "; the host stores it in " << name << " after every step, rounding to "
    << rounding_name(rounding) << " (" << host_rounded_values << " of " << stored_values
    << " values changed)";
  return o.str();
}

std::string DriftLane::verdict() const {
  if (!finite) return "overflowed";
  if (!growth_exponent) return "one checkpoint";
  return *growth_exponent < kBoundedGrowthExponent ? "bounded" : "growing";
}

std::vector<std::int64_t> drift_sample_steps(const std::vector<std::int64_t>& checkpoints) {
  std::vector<std::int64_t> steps(checkpoints.begin(), checkpoints.end());
  if (checkpoints.empty()) return steps;
  const std::int64_t last = checkpoints.back();
  for (std::int64_t decade = 1; decade < last; decade *= 10) {
    for (const std::int64_t m : {1, 2, 5}) {
      if (decade * m < last) steps.push_back(decade * m);
    }
  }
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
  return steps;
}

DriftLayerResult run_drift(Backend& backend, Backend& reference, const DriftLayer& layer,
                           const DriftOptions& options,
                           const std::function<void(std::int64_t, std::int64_t)>& progress) {
  check_options(layer, options);
  const Shape shape = layer.state_shape();
  Tensor ref_state = layer.initial_state.defined() ? layer.initial_state.to(DType::float64)
                                                   : Tensor(DType::float64, shape);
  DriftStepInputs in;
  for (std::int64_t t = 0; t < layer.prefill_steps; ++t) {
    layer.inputs(t, in);
    ref_state = run_step(reference, layer, in, ref_state, DType::float64).state;
  }

  std::vector<Lane> lanes;
  for (std::size_t i = 0; i < options.state_dtypes.size(); ++i) {
    const DType dtype = options.state_dtypes[i];
    Lane lane{{}, ref_state, UniformStream(options.seed * 0x9e3779b97f4a7c15ull + i + 1)};
    lane.result.dtype = dtype;
    lane.result.rounding = lane_rounding(dtype, options.rounding);
    lane.result.kernel_state_dtype = kernel_dtype_for(layer.kind, dtype, lane.result.rounding);
    store(lane, lane.state);  // the prefill's final state, stored as an engine stores it
    lanes.push_back(std::move(lane));
  }

  const std::vector<std::int64_t> samples = drift_sample_steps(options.checkpoints);
  const std::int64_t total = options.checkpoints.back();
  std::size_t next_sample = 0;
  for (std::int64_t step = 1; step <= total; ++step) {
    layer.inputs(layer.prefill_steps + step - 1, in);
    // The float64 step is the slowest part on a GPU run: it runs on its own thread while
    // the backend steps the lanes on this one.
    auto ref_step = std::async(std::launch::async, [&] {
      return run_step(reference, layer, in, ref_state, DType::float64);
    });
    const bool sampled = next_sample < samples.size() && samples[next_sample] == step;
    std::vector<StepResult> stepped(lanes.size());
    for (std::size_t i = 0; i < lanes.size(); ++i) {
      Lane& lane = lanes[i];
      if (!lane.result.finite) continue;  // an overflowed state stays overflowed
      const DType kernel = lane.result.kernel_state_dtype.value_or(DType::float32);
      stepped[i] = run_step(backend, layer, in, lane.state, kernel);
      store(lane, stepped[i].state);
      lane.state = std::move(stepped[i].state);
    }
    const StepResult ref = ref_step.get();
    ref_state = ref.state;
    for (std::size_t i = 0; sampled && i < lanes.size(); ++i) {
      if (!stepped[i].out.defined()) continue;  // overflowed earlier
      const Norms s = compare(lanes[i].state, ref.state), o = compare(stepped[i].out, ref.out);
      lanes[i].result.points.push_back(
          {step, std::binary_search(options.checkpoints.begin(), options.checkpoints.end(), step),
           {s.rel_l2, s.max_abs, o.rel_l2, o.max_abs}});
    }
    if (sampled) ++next_sample;
    if (progress) progress(step, total);
  }

  DriftLayerResult result;
  result.kind = layer.kind;
  result.description = layer.description;
  result.slowest_decay = layer.slowest_decay;
  result.state_elements = shape_numel(shape);
  double sum2 = 0;
  for (const double v : ref_state.span<double>()) sum2 += v * v;
  result.reference_state_rms = std::sqrt(sum2 / static_cast<double>(std::max<std::int64_t>(ref_state.numel(), 1)));
  for (Lane& lane : lanes) {
    std::vector<const DriftPoint*> checkpoints;
    for (const DriftPoint& p : lane.result.points) {
      if (p.checkpoint) checkpoints.push_back(&p);
    }
    if (lane.result.finite && checkpoints.size() >= 2) {
      const DriftPoint& a = *checkpoints[checkpoints.size() - 2];
      const DriftPoint& b = *checkpoints.back();
      const double e1 = a.error.state_rel_l2, e2 = b.error.state_rel_l2;
      lane.result.growth_exponent =
          e1 > 0 ? std::log(e2 / e1) / std::log(static_cast<double>(b.step) / static_cast<double>(a.step))
                 : (e2 > 0 ? INFINITY : 0.0);
    }
    result.lanes.push_back(std::move(lane.result));
  }
  return result;
}

}  // namespace ssmkit
