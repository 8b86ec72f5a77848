// The drift run: one layer's decode through a backend with the state stored in each dtype,
// beside the float64 reference on the same inputs.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <thread>

#include "ssmkit/backend.hpp"
#include "ssmkit/drift/drift.hpp"
#include "ssmkit/error.hpp"
#include "step_workers.hpp"

namespace ssmkit {
namespace {

bool is_ssm(LayerKind kind) { return kind == LayerKind::mamba || kind == LayerKind::mamba2; }
bool is_delta_rule(LayerKind kind) { return kind == LayerKind::gated_delta_net || kind == LayerKind::kda; }

template <class P>
P delta_rule_step(const DriftLayer& l, const DriftStepInputs& in, Tensor state,
                  DType kernel_state_dtype) {
  P p;
  p.batch = l.batch, p.seqlen = 1, p.nheads = l.nheads, p.v_heads = l.v_heads;
  p.key_dim = l.key_dim, p.value_dim = l.value_dim, p.scale = l.scale;
  p.qk_l2norm = true;  // Qwen3-Next and Kimi-Linear call the kernel with use_qk_l2norm_in_kernel
  p.input_dtype = DType::float32;
  p.q = in.q, p.k = in.k, p.v = in.v, p.g = in.g, p.beta = in.beta;
  p.state_slots = l.batch, p.state_dtype = kernel_state_dtype, p.state = std::move(state);
  return p;
}

// Every op call takes its tensors by value: a step is one call on the given state.
OpParams step_op(const DriftLayer& l, const DriftStepInputs& in, Tensor state,
                 DType kernel_state_dtype) {
  if (is_ssm(l.kind)) {
    SelectiveStateUpdateParams p;
    p.batch = l.batch, p.nheads = l.nheads, p.headdim = l.headdim, p.dstate = l.dstate;
    p.ngroups = l.ngroups, p.state_slots = l.batch;
    p.dt_softplus = true;
    p.input_dtype = DType::float32;
    p.state_dtype = kernel_state_dtype;
    p.state = std::move(state), p.x = in.x, p.dt = in.dt, p.A = l.A, p.B = in.B, p.C = in.C;
    p.D = l.D, p.dt_bias = l.dt_bias;
    return p;
  }
  if (l.kind == LayerKind::gated_delta_net) {
    return delta_rule_step<GatedDeltaRuleUpdateParams>(l, in, std::move(state), kernel_state_dtype);
  }
  if (l.kind == LayerKind::kda) {
    return delta_rule_step<KdaUpdateParams>(l, in, std::move(state), kernel_state_dtype);
  }
  LightningAttentionParams p;
  p.batch = l.batch, p.nheads = l.nheads, p.seqlen = 1, p.key_dim = l.key_dim;
  p.value_dim = l.value_dim, p.input_dtype = DType::float32;
  p.q = in.q, p.k = in.k, p.v = in.v, p.slope = l.slope, p.initial_state = std::move(state);
  return p;
}

struct StepResult {
  Tensor state, out;
};

// The result's tensors moved out (a state is copied often enough inside a step), in
// float64: results may arrive in a device dtype, and the comparison is in float64.
Tensor in_float64(Tensor t) { return t.dtype() == DType::float64 ? t : t.to(DType::float64); }
StepResult step_result(OpResult& r, const Shape& state_shape) {
  StepResult s;
  if (auto* ssm = std::get_if<SelectiveStateUpdateResult>(&r)) {
    s = {std::move(ssm->state), std::move(ssm->out)};
  } else if (auto* lightning = std::get_if<LightningAttentionResult>(&r)) {
    s = {std::move(lightning->final_state), std::move(lightning->out)};
  } else if (auto* gdn = std::get_if<GatedDeltaRuleUpdateResult>(&r)) {
    s = {std::move(gdn->final_state), std::move(gdn->o)};
  } else {
    auto& kda = std::get<KdaUpdateResult>(r);
    s = {std::move(kda.final_state), std::move(kda.o)};
  }
  s.state = in_float64(std::move(s.state)), s.out = in_float64(std::move(s.out));
  if (s.state.shape() != state_shape) s.state = s.state.reshaped(state_shape);
  return s;
}

// One step from `state` through the backend's run(), the entry point `validate` and
// `bench` use.
StepResult run_step(Backend& backend, const DriftLayer& l, const DriftStepInputs& in, Tensor state,
                    DType kernel_state_dtype) {
  OpResult r = backend.run(step_op(l, in, std::move(state), kernel_state_dtype));
  return step_result(r, l.state_shape());
}

// Rows [first, first + count) of a tensor whose leading axis is the batch.
Tensor batch_rows(const Tensor& t, std::int64_t first, std::int64_t count) {
  if (!t.defined()) return t;
  Shape shape = t.shape();
  const std::int64_t per_row = t.numel() / shape[0];
  shape[0] = count;
  Tensor out(DType::float64, shape);
  const auto src = t.span<double>().subspan(static_cast<std::size_t>(first * per_row),
                                            static_cast<std::size_t>(count * per_row));
  std::copy(src.begin(), src.end(), out.span<double>().begin());
  return out;
}

// The parts' rows one after another.
Tensor concat_rows(const std::vector<Tensor>& parts) {
  Shape shape = parts.front().shape();
  for (std::size_t i = 1; i < parts.size(); ++i) shape[0] += parts[i].dim(0);
  Tensor out(DType::float64, shape);
  auto dst = out.span<double>().begin();
  for (const Tensor& p : parts) dst = std::copy(p.span<double>().begin(), p.span<double>().end(), dst);
  return out;
}

// The float64 reference's step with the batch cut into row blocks run as separate calls on
// the workers. Every op drift runs computes each batch row on its own (no sum crosses
// rows), so the blocks together are the whole call's result, bit for bit.
class ReferenceStep {
 public:
  ReferenceStep(Backend& reference, const DriftLayer& layer, std::int64_t threads)
      : reference_(reference) {
    const std::int64_t blocks = std::clamp<std::int64_t>(threads, 1, layer.batch);
    const std::int64_t per = (layer.batch + blocks - 1) / blocks;
    for (std::int64_t first = 0; first < layer.batch; first += per) {
      DriftLayer part = layer;
      part.batch = std::min(per, layer.batch - first);
      part.inputs = nullptr;
      blocks_.push_back({first, std::move(part)});
    }
    parts_.resize(blocks_.size());
  }

  // Posts the blocks of the step from `state` on `in`; both must stay unchanged until
  // the workers' wait().
  void start(drift::StepWorkers& workers, const DriftStepInputs& in, const Tensor& state) {
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      workers.post([this, i, &in, &state] {
        const Block& b = blocks_[i];
        const std::int64_t n = b.layer.batch;
        const auto cut = [&](const Tensor& t) { return batch_rows(t, b.first, n); };
        const DriftStepInputs rows{cut(in.x), cut(in.dt), cut(in.B), cut(in.C), cut(in.q),
                                   cut(in.k),  cut(in.v),  cut(in.g), cut(in.beta)};
        parts_[i] = run_step(reference_, b.layer, rows, batch_rows(state, b.first, n), DType::float64);
      });
    }
  }

  // After the workers' wait(): the whole batch's result.
  StepResult result() const {
    if (parts_.size() == 1) return parts_.front();
    std::vector<Tensor> states, outs;
    for (const StepResult& p : parts_) states.push_back(p.state), outs.push_back(p.out);
    return {concat_rows(states), concat_rows(outs)};
  }

 private:
  struct Block {
    std::int64_t first;
    DriftLayer layer;  // the block's sizes: batch = its rows
  };
  Backend& reference_;
  std::vector<Block> blocks_;
  std::vector<StepResult> parts_;
};

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

// The selective-state-update and delta-rule kernels keep float32 or bfloat16 states (their
// params' state_dtype); anything else, and any state to be rounded stochastically, is kept
// in float32 by the kernel and stored by the host.
std::optional<DType> kernel_dtype_for(LayerKind kind, DType dtype, StateRounding rounding) {
  if (!is_ssm(kind) && !is_delta_rule(kind)) return std::nullopt;
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
  if (o.threads < 0 || o.threads > kMaxDriftThreads) {
    throw InputError("", "--threads",
                     "0 (every core) to " + std::to_string(kMaxDriftThreads) + " threads, got " +
                         std::to_string(o.threads));
  }
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
  const std::int64_t threads =
      options.threads > 0 ? options.threads
                          : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::thread::hardware_concurrency()));
  ReferenceStep reference_step(reference, layer, threads);
  const Shape shape = layer.state_shape();
  Tensor ref_state = layer.initial_state.defined() ? layer.initial_state.to(DType::float64)
                                                   : Tensor(DType::float64, shape);
  DriftStepInputs in;
  std::vector<Lane> lanes;
  std::vector<StepResult> stepped;
  // Declared after everything its jobs touch: when an exception leaves a step half done,
  // its destructor lets the posted jobs finish before those objects go.
  drift::StepWorkers workers(threads - 1);
  for (std::int64_t t = 0; t < layer.prefill_steps; ++t) {
    layer.inputs(t, in);
    reference_step.start(workers, in, ref_state);
    workers.wait();
    ref_state = reference_step.result().state;
  }

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
  stepped.resize(lanes.size());
  for (std::int64_t step = 1; step <= total; ++step) {
    layer.inputs(layer.prefill_steps + step - 1, in);
    // The float64 reference is the slowest part of a GPU run: its row blocks go to the
    // workers first, the lanes' host rounding after them.
    reference_step.start(workers, in, ref_state);
    for (std::size_t i = 0; i < lanes.size(); ++i) {
      Lane& lane = lanes[i];
      if (!lane.result.finite) {  // an overflowed state stays overflowed
        stepped[i] = {};
        continue;
      }
      const DType kernel = lane.result.kernel_state_dtype.value_or(DType::float32);
      const auto lane_step = [&backend, &layer, &in, &lane, &stepped, i, kernel] {
        stepped[i] = run_step(backend, layer, in, std::move(lane.state), kernel);
        store(lane, stepped[i].state);
        lane.state = std::move(stepped[i].state);
      };
      if (options.reentrant_backend) {
        workers.post(lane_step);
      } else {  // the backend's calls stay on this thread; the rounding may move
        stepped[i] = run_step(backend, layer, in, std::move(lane.state), kernel);
        workers.post([&lane, &stepped, i] {
          store(lane, stepped[i].state);
          lane.state = std::move(stepped[i].state);
        });
      }
    }
    workers.wait();
    const StepResult ref = reference_step.result();
    ref_state = ref.state;
    const bool sampled = next_sample < samples.size() && samples[next_sample] == step;
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
