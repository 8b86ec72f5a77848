// The gated delta rule ops: Gated DeltaNet (one log decay per head) and KDA (one per key
// channel), each as prefill (fla's chunk_gated_delta_rule / chunk_kda) and decode on a state
// pool (vLLM's fused_recurrent_gated_delta_rule with ssm_state_indices). The two decays
// share every piece below; only g's shape differs.
#include <cmath>

#include "case_util.hpp"

namespace ssmkit {
namespace {

template <DeltaDecay D>
constexpr bool per_key = D == DeltaDecay::per_key;

// q, k, v, g, beta and the flags, at layout (B, T, ...) for the batch and token symbols.
template <DeltaDecay D>
void read_inputs(const GoldenCase& g, ShapeBinder& s, DeltaRuleInputs& p) {
  s.require("q", {"B", "T", "H", "K"});
  s.require("k", {"B", "T", "H", "K"});
  s.require("v", {"B", "T", "HV", "V"});
  if constexpr (per_key<D>) {
    s.require("g", {"B", "T", "HV", "K"});
  } else {
    s.require("g", {"B", "T", "HV"});
  }
  s.require("beta", {"B", "T", "HV"});
  s.require_divisible("HV", "H");
  p.batch = s.size("B"), p.seqlen = s.size("T"), p.nheads = s.size("H"), p.v_heads = s.size("HV");
  p.key_dim = s.size("K"), p.value_dim = s.size("V");
  p.q = detail::f64(g.input("q")), p.k = detail::f64(g.input("k")), p.v = detail::f64(g.input("v"));
  p.g = detail::f64(g.input("g")), p.beta = detail::f64(g.input("beta"));
  // fla's default scale: K^-0.5.
  p.scale = g.number("scale", 1.0 / std::sqrt(static_cast<double>(p.key_dim)));
  if (!std::isfinite(p.scale)) s.fail("attribute 'scale'", "a finite number");
  p.qk_l2norm = g.flag("use_qk_l2norm_in_kernel", false);
  p.input_dtype = g.input_dtype;
}

std::string flags_summary(const DeltaRuleInputs& p) { return p.qk_l2norm ? " l2norm" : ""; }

template <DeltaDecay D>
class DeltaRuleCase : public OpCase {
 public:
  explicit DeltaRuleCase(const GoldenCase& g) {
    ShapeBinder s(g);
    read_inputs<D>(g, s, p_);
    p_.cu_seqlens = detail::packed_offsets(g, s, p_.batch, p_.seqlen);
    s.bind("N", p_.sequences(), p_.cu_seqlens.empty() ? "inputs/q (B)" : "inputs/cu_seqlens");
    p_.initial_state = detail::f64(s.optional("initial_state", {"N", "HV", "K", "V"}));
    summary_ = detail::dims_summary(s, {"B", "T", "H", "HV", "K", "V"}) +
               (p_.cu_seqlens.empty() ? "" : " seqs=" + std::to_string(p_.sequences())) +
               (p_.initial_state.defined() ? " init" : "") + flags_summary(p_);
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<DeltaRuleParams<D>>::outputs(backend.call(p_));
  }

 private:
  DeltaRuleParams<D> p_;
  std::string summary_;
};

template <DeltaDecay D>
class DeltaRuleUpdateCase : public OpCase {
 public:
  explicit DeltaRuleUpdateCase(const GoldenCase& g) {
    ShapeBinder s(g);
    read_inputs<D>(g, s, p_);
    s.require("initial_state", {"S", "HV", "K", "V"});
    p_.state_slots = s.size("S");
    p_.state = detail::f64(g.input("initial_state"));
    p_.state_dtype = DType::float32;
    if (g.input("ssm_state_indices")) {
      s.require_integer("ssm_state_indices");
      s.require("ssm_state_indices", {"B"});
      p_.state_indices = detail::to_indices(*g.input("ssm_state_indices"));
      p_.pad_slot_id = g.integer("pad_slot_id", -1);
      detail::check_slots(s, "ssm_state_indices", p_.state_indices, p_.state_slots, p_.pad_slot_id);
    } else if (p_.state_slots != p_.batch) {  // without indices, row b owns slot b
      s.fail("inputs/initial_state", "has " + std::to_string(p_.state_slots) +
                                         " slots but q has batch " + std::to_string(p_.batch) +
                                         "; give ssm_state_indices to map rows to slots");
    }
    summary_ = detail::dims_summary(s, {"B", "T", "H", "HV", "K", "V"}) +
               (p_.state_indices.empty() ? "" : " slots=" + std::to_string(p_.state_slots)) +
               flags_summary(p_);
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<DeltaRuleUpdateParams<D>>::outputs(backend.call(p_));
  }

 private:
  DeltaRuleUpdateParams<D> p_;
  std::string summary_;
};

// ---- traffic and random inputs, shared by prefill and decode -------------------------------

// Reads of q, k, v, g, beta and the write of o; the states are the caller's.
template <DeltaDecay D>
double token_bytes(const DeltaRuleInputs& p) {
  const double a = bench::act_bytes(p.input_dtype), rows = static_cast<double>(p.batch * p.seqlen);
  const double H = p.nheads, HV = p.v_heads, K = p.key_dim, V = p.value_dim;
  return a * rows * (2 * H * K + 2 * HV * V) + 4.0 * rows * HV * (per_key<D> ? K + 1 : 2);
}
// Per token and value head: decay K*V, S^T k 2KV, the rank-1 update 2KV, S^T q 2KV; the
// decay's exponentials (1 or K), the l2 norms 4K.
template <DeltaDecay D>
double token_flops(const DeltaRuleInputs& p) {
  const double K = p.key_dim, V = p.value_dim;
  return static_cast<double>(p.batch * p.seqlen * p.v_heads) *
         (7 * K * V + (per_key<D> ? K : 1) + (p.qk_l2norm ? 4 * K : 0));
}
template <DeltaDecay D>
std::string formula(const char* states) {
  return std::string("bytes = a*(q + k + v + o) + 4*(g + beta) + ") + states +
         "; flops = B*T*HV*(7*K*V [decay, S^T k, rank-1 update, S^T q] + " +
         (per_key<D> ? "K" : "1") + " exp + 4K l2 norms) (the token recurrence; chunked "
                                    "forms do more)";
}

template <DeltaDecay D>
void random_inputs(const bench::BenchCase& c, bench::RandomInputs& gen, DeltaRuleInputs& p) {
  const DType act = c.dtype, param = bench::kParamDtype;
  p.batch = c.dims.at("batch"), p.seqlen = c.dims.at("seqlen"), p.nheads = c.dims.at("nheads");
  p.v_heads = c.dims.at("v_heads"), p.key_dim = c.dims.at("key_dim"), p.value_dim = c.dims.at("value_dim");
  p.input_dtype = act;
  // Qwen3-Next and Kimi-Linear both normalise q and k inside the kernel.
  p.qk_l2norm = true;
  p.scale = 1.0 / std::sqrt(static_cast<double>(p.key_dim));
  p.q = gen({p.batch, p.seqlen, p.nheads, p.key_dim}, -1, 1, act);
  p.k = gen({p.batch, p.seqlen, p.nheads, p.key_dim}, -1, 1, act);
  p.v = gen({p.batch, p.seqlen, p.v_heads, p.value_dim}, -1, 1, act);
  // Log decays as the gates make them (-exp(A_log) * softplus(...)), float32 like vLLM's.
  p.g = per_key<D> ? gen({p.batch, p.seqlen, p.v_heads, p.key_dim}, -1.0, -0.01, param)
                   : gen({p.batch, p.seqlen, p.v_heads}, -1.0, -0.01, param);
  p.beta = gen({p.batch, p.seqlen, p.v_heads}, 0.05, 0.95, param);
}

std::string shape_terms(std::int64_t B, std::int64_t T, const bench::DeltaNetShape& m) {
  using bench::CaseList;
  return CaseList::term("B", B) + " " + CaseList::term("T", T) + " " + CaseList::term("H", m.nheads) +
         " " + CaseList::term("HV", m.v_heads) + " " + CaseList::term("K", m.key_dim) + " " +
         CaseList::term("V", m.value_dim);
}
std::map<std::string, std::int64_t> shape_dims(std::int64_t B, std::int64_t T,
                                               const bench::DeltaNetShape& m) {
  return {{"batch", B}, {"seqlen", T}, {"nheads", m.nheads}, {"v_heads", m.v_heads},
          {"key_dim", m.key_dim}, {"value_dim", m.value_dim}};
}
template <DeltaDecay D>
const std::optional<bench::DeltaNetShape>& layer_shape(const bench::ShapePreset& preset) {
  return per_key<D> ? preset.kda : preset.gated_delta_net;
}

// A slice is one batch row and value heads inside one q/k group.
template <DeltaDecay D>
void slice_inputs(DeltaRuleInputs& p, const bench::Slice& s) {
  using bench::cut;
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count}, all{};
  const bench::Range head{s.first / (p.v_heads / p.nheads), 1};
  p.q = cut(p.q, {b, all, head}), p.k = cut(p.k, {b, all, head});
  p.v = cut(p.v, {b, all, u}), p.g = cut(p.g, {b, all, u}), p.beta = cut(p.beta, {b, all, u});
  p.batch = 1, p.nheads = 1, p.v_heads = s.count;
}
NamedTensors slice_delta_outputs(const NamedTensors& outputs, const bench::Slice& s) {
  const bench::Range b{s.batch_row, 1}, u{s.first, s.count}, all{};
  return {{"o", bench::cut(outputs.at("o"), {b, all, u})},
          {"final_state", bench::cut(outputs.at("final_state"), {b, u})}};
}

void put_inputs(GoldenCall& call, const DeltaRuleInputs& p) {
  for (const auto& [name, t] : {std::pair{"q", &p.q}, {"k", &p.k}, {"v", &p.v}, {"g", &p.g},
                                {"beta", &p.beta}}) {
    detail::put_input(call, name, *t);
  }
  call.attrs["scale"] = detail::attr_number(p.scale);
  call.attrs["use_qk_l2norm_in_kernel"] = detail::attr_number(p.qk_l2norm);
}

// ---- the descriptors, for both decays ------------------------------------------------------

template <DeltaDecay D>
struct Prefill {
  using P = DeltaRuleParams<D>;
  static bench::Traffic traffic(const P& p) {
    const double K = p.key_dim, V = p.value_dim, HV = p.v_heads, N = p.sequences();
    bench::Traffic t;
    t.bytes = token_bytes<D>(p) + 4.0 * bench::n_or0(p.initial_state) + 4.0 * N * HV * K * V;
    t.flops = token_flops<D>(p);
    t.formula = formula<D>("4*(initial_state + final_state)");
    return t;
  }
  static P random_call(const bench::BenchCase& c) {
    bench::RandomInputs gen(c.seed);
    P p;
    random_inputs<D>(c, gen, p);
    if (detail::case_option(c, "initial_states")) {
      p.initial_state = gen({p.batch, p.v_heads, p.key_dim, p.value_dim}, -0.5, 0.5, bench::kParamDtype);
    }
    // Packed sequences (batch 1): the tokens split into near-equal parts.
    if (const std::int64_t seqs = detail::case_option(c, "varlen_seqs"); seqs > 0 && p.batch == 1) {
      for (std::int64_t n = 0; n <= seqs; ++n) p.cu_seqlens.push_back(n * p.seqlen / seqs);
      if (p.initial_state.defined()) {
        p.initial_state = gen({seqs, p.v_heads, p.key_dim, p.value_dim}, -0.5, 0.5, bench::kParamDtype);
      }
    }
    return p;
  }
  static void bench_cases(const bench::ShapePreset& preset, const bench::SweepOptions& sweep,
                          DType dtype, bench::CaseList& cases) {
    const auto& m = layer_shape<D>(preset);
    if (!m) return;
    for (auto B : sweep.batches) {
      for (auto T : sweep.seqlens) {
        cases.add(OpTraits<P>::name, shape_dims(B, T, *m), shape_terms(B, T, *m), dtype, {}, false);
      }
    }
  }
  static CheckUnits check_units(const P& p) {
    CheckUnits u{p.batch, p.v_heads, p.v_heads / p.nheads, "value heads"};
    u.sliceable = p.cu_seqlens.empty();  // a packed row is every sequence
    return u;
  }
  static P slice(const P& call, const bench::Slice& s) {
    P p = call;
    slice_inputs<D>(p, s);
    p.initial_state = bench::cut(p.initial_state, {{s.batch_row, 1}, {s.first, s.count}});
    return p;
  }
  static GoldenCall golden_call(const P& p) {
    GoldenCall call = detail::golden_call_in(p.input_dtype);
    put_inputs(call, p);
    detail::put_input(call, "initial_state", p.initial_state);
    detail::put_indices(call, "cu_seqlens", p.cu_seqlens, {static_cast<std::int64_t>(p.cu_seqlens.size())});
    return call;
  }
};

template <DeltaDecay D>
struct Update {
  using P = DeltaRuleUpdateParams<D>;
  static bench::Traffic traffic(const P& p) {
    const double s = static_cast<double>(dtype_size(p.state_dtype));
    const double rows = static_cast<double>(p.batch), K = p.key_dim, V = p.value_dim, HV = p.v_heads;
    bench::Traffic t;
    t.bytes = token_bytes<D>(p) + 2 * s * rows * HV * K * V + 8.0 * static_cast<double>(p.state_indices.size());
    t.flops = token_flops<D>(p);
    t.formula = formula<D>("2*s*state(B,HV,K,V) [the rows' slots, read+write] + 8*ssm_state_indices");
    return t;
  }
  static P random_call(const bench::BenchCase& c) {
    bench::RandomInputs gen(c.seed);
    P p;
    random_inputs<D>(c, gen, p);
    p.state_slots = p.batch;
    p.state_dtype = c.state_dtype.value_or(bench::kParamDtype);
    p.state = gen({p.batch, p.v_heads, p.key_dim, p.value_dim}, -0.5, 0.5, p.state_dtype);
    return p;
  }
  static void bench_cases(const bench::ShapePreset& preset, const bench::SweepOptions& sweep,
                          DType dtype, bench::CaseList& cases) {
    const auto& m = layer_shape<D>(preset);
    if (!m) return;
    for (DType st : sweep.state_dtypes) {
      for (auto B : sweep.decode_batches) {
        cases.add(OpTraits<P>::name, shape_dims(B, 1, *m), shape_terms(B, 1, *m), dtype, st, true);
      }
    }
  }
  static CheckUnits check_units(const P& p) {
    CheckUnits u{p.batch, p.v_heads, p.v_heads / p.nheads, "value heads"};
    u.sliceable = p.state_indices.empty();  // rows through slot indices write other rows' slots
    return u;
  }
  static P slice(const P& call, const bench::Slice& s) {
    P p = call;
    slice_inputs<D>(p, s);
    p.state = bench::cut(p.state, {{s.batch_row, 1}, {s.first, s.count}});
    p.state_slots = 1;
    return p;
  }
  static GoldenCall golden_call(const P& p) {
    GoldenCall call = detail::golden_call_in(p.input_dtype);
    put_inputs(call, p);
    detail::put_input(call, "initial_state", p.state);
    detail::put_indices(call, "ssm_state_indices", p.state_indices, {p.batch});
    if (!p.state_indices.empty()) {
      call.attrs["pad_slot_id"] = detail::attr_number(static_cast<double>(p.pad_slot_id));
    }
    return call;
  }
};

}  // namespace

#define SSMKIT_DELTA_RULE_DESCRIPTOR(P, IMPL, CASE, TOLERANCE, FLAGS)                          \
  template <>                                                                                 \
  std::unique_ptr<OpCase> OpDescriptor<P>::golden_case(const GoldenCase& g) {                 \
    return std::make_unique<CASE>(g);                                                         \
  }                                                                                           \
  template <>                                                                                 \
  ToleranceClass OpDescriptor<P>::tolerance_class() {                                         \
    return ToleranceClass::TOLERANCE;                                                         \
  }                                                                                           \
  template <>                                                                                 \
  NamedTensors OpDescriptor<P>::outputs(const ResultOf<P>& r) {                               \
    return {{"o", r.o}, {"final_state", r.final_state}};                                      \
  }                                                                                           \
  template <>                                                                                 \
  bench::Traffic OpDescriptor<P>::traffic(const P& p) {                                       \
    return IMPL::traffic(p);                                                                  \
  }                                                                                           \
  template <>                                                                                 \
  P OpDescriptor<P>::random_call(const bench::BenchCase& c) {                                 \
    return IMPL::random_call(c);                                                              \
  }                                                                                           \
  template <>                                                                                 \
  void OpDescriptor<P>::bench_cases(const bench::ShapePreset& preset,                         \
                                    const bench::SweepOptions& sweep, DType dtype,            \
                                    bench::CaseList& cases) {                                 \
    IMPL::bench_cases(preset, sweep, dtype, cases);                                           \
  }                                                                                           \
  template <>                                                                                 \
  CheckUnits OpDescriptor<P>::check_units(const P& p) {                                       \
    return IMPL::check_units(p);                                                              \
  }                                                                                           \
  template <>                                                                                 \
  P OpDescriptor<P>::slice(const P& p, const bench::Slice& s) {                               \
    return IMPL::slice(p, s);                                                                 \
  }                                                                                           \
  template <>                                                                                 \
  NamedTensors OpDescriptor<P>::slice_outputs(const P&, const NamedTensors& outputs,          \
                                              const bench::Slice& s) {                        \
    return slice_delta_outputs(outputs, s);                                                   \
  }                                                                                           \
  template <>                                                                                 \
  GoldenNames OpDescriptor<P>::golden_names() {                                               \
    return FLAGS;                                                                             \
  }                                                                                           \
  template <>                                                                                 \
  GoldenCall OpDescriptor<P>::golden_call(const P& p) {                                       \
    return IMPL::golden_call(p);                                                              \
  }

#define SSMKIT_PREFILL_NAMES                                                   \
  GoldenNames{{"q", "k", "v", "g", "beta", "initial_state", "cu_seqlens"},    \
              {"o", "final_state"},                                           \
              {"scale", "use_qk_l2norm_in_kernel"}}
#define SSMKIT_UPDATE_NAMES                                                          \
  GoldenNames{{"q", "k", "v", "g", "beta", "initial_state", "ssm_state_indices"},   \
              {"o", "final_state"},                                                 \
              {"scale", "use_qk_l2norm_in_kernel", "pad_slot_id"}}

SSMKIT_DELTA_RULE_DESCRIPTOR(GatedDeltaRuleParams, Prefill<DeltaDecay::per_head>,
                             DeltaRuleCase<DeltaDecay::per_head>, accumulating, SSMKIT_PREFILL_NAMES)
SSMKIT_DELTA_RULE_DESCRIPTOR(KdaParams, Prefill<DeltaDecay::per_key>,
                             DeltaRuleCase<DeltaDecay::per_key>, accumulating, SSMKIT_PREFILL_NAMES)
SSMKIT_DELTA_RULE_DESCRIPTOR(GatedDeltaRuleUpdateParams, Update<DeltaDecay::per_head>,
                             DeltaRuleUpdateCase<DeltaDecay::per_head>, pointwise, SSMKIT_UPDATE_NAMES)
SSMKIT_DELTA_RULE_DESCRIPTOR(KdaUpdateParams, Update<DeltaDecay::per_key>,
                             DeltaRuleUpdateCase<DeltaDecay::per_key>, pointwise, SSMKIT_UPDATE_NAMES)

}  // namespace ssmkit
