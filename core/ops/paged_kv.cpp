#include <algorithm>

#include "case_util.hpp"

namespace ssmkit {
namespace {

// vLLM's reshape_and_cache_flash: new tokens' K/V into the pages at slot_mapping.
class PagedKvWriteCase : public OpCase {
 public:
  explicit PagedKvWriteCase(const GoldenCase& g) {
    ShapeBinder s(g);
    p_.key = detail::f64(s.require("key", {"T", "H", "D"}));
    p_.value = detail::f64(s.require("value", {"T", "H", "D"}));
    p_.key_cache = detail::f64(s.require("key_cache", {"pages", "page_size", "H", "D"}));
    p_.value_cache = detail::f64(s.require("value_cache", {"pages", "page_size", "H", "D"}));
    s.require_integer("slot_mapping");
    p_.slot_mapping = detail::to_indices(s.require("slot_mapping", {"T"}));
    p_.num_tokens = s.size("T");
    p_.num_pages = s.size("pages");
    p_.page_size = s.size("page_size");
    p_.kv_heads = s.size("H");
    p_.head_dim = s.size("D");
    p_.input_dtype = g.input_dtype;
    check_paged_kv_write(p_, g.where(), "inputs/");
    const auto padding = std::count_if(p_.slot_mapping.begin(), p_.slot_mapping.end(),
                                       [](std::int64_t slot) { return slot < 0; });
    summary_ = detail::dims_summary(s, {"T", "pages", "page_size", "H", "D"}) +
               (padding ? " pad=" + std::to_string(padding) : "");
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<decltype(p_)>::outputs(backend.call(p_));
  }

 private:
  PagedKvWriteParams p_;
  std::string summary_;
};

// Contiguous (B, max_len, H, D) K/V through block tables; attribute max_len defaults to
// the longest sequence.
class PagedKvGatherCase : public OpCase {
 public:
  explicit PagedKvGatherCase(const GoldenCase& g) {
    ShapeBinder s(g);
    p_.key_cache = detail::f64(s.require("key_cache", {"pages", "page_size", "H", "D"}));
    p_.value_cache = detail::f64(s.require("value_cache", {"pages", "page_size", "H", "D"}));
    s.require_integer("block_tables");
    s.require_integer("seq_lens");
    p_.block_tables = detail::to_indices(s.require("block_tables", {"B", "max_pages"}));
    p_.seq_lens = detail::to_indices(s.require("seq_lens", {"B"}));
    p_.batch = s.size("B");
    p_.max_pages_per_seq = s.size("max_pages");
    p_.num_pages = s.size("pages");
    p_.page_size = s.size("page_size");
    p_.kv_heads = s.size("H");
    p_.head_dim = s.size("D");
    p_.max_len = g.integer("max_len", *std::max_element(p_.seq_lens.begin(), p_.seq_lens.end()));
    p_.input_dtype = g.input_dtype;
    check_paged_kv_gather(p_, g.where(), "inputs/");
    summary_ = detail::dims_summary(s, {"B", "max_pages", "pages", "page_size", "H", "D"}) +
               " max_len=" + std::to_string(p_.max_len);
  }
  std::string shape_summary() const override { return summary_; }
  NamedTensors run(Backend& backend) const override {
    return OpDescriptor<decltype(p_)>::outputs(backend.call(p_));
  }

 private:
  PagedKvGatherParams p_;
  std::string summary_;
};

}  // namespace

template <>
std::unique_ptr<OpCase> OpDescriptor<PagedKvWriteParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<PagedKvWriteCase>(g);
}
template <>
std::unique_ptr<OpCase> OpDescriptor<PagedKvGatherParams>::golden_case(const GoldenCase& g) {
  return std::make_unique<PagedKvGatherCase>(g);
}

// ---- paged_kv_write / paged_kv_gather: what bench, the check and the tolerance know -------
// Both are copies: exact tolerance, and never sliced (the reference is cheap).

namespace {
std::map<std::string, std::int64_t> kv_dims(const bench::AttentionShape& m,
                                            std::map<std::string, std::int64_t> dims) {
  dims.insert({{"kv_heads", m.kv_heads}, {"head_dim", m.head_dim}, {"page_size", m.page_size}});
  return dims;
}
std::string kv_shape(const bench::AttentionShape& m) {
  using bench::CaseList;
  return CaseList::term("KVH", m.kv_heads) + " " + CaseList::term("HD", m.head_dim) + " " +
         CaseList::term("page", m.page_size);
}
}  // namespace

template <>
ToleranceClass OpDescriptor<PagedKvWriteParams>::tolerance_class() {
  return ToleranceClass::exact;
}
template <>
NamedTensors OpDescriptor<PagedKvWriteParams>::outputs(const PagedKvWriteResult& r) {
  return {{"key_cache", r.key_cache}, {"value_cache", r.value_cache}};
}
template <>
bench::Traffic OpDescriptor<PagedKvWriteParams>::traffic(const PagedKvWriteParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), T = p.num_tokens,
               row = static_cast<double>(p.kv_heads * p.head_dim);
  Traffic t;
  t.bytes = 2 * (2 * a * T * row) + 8.0 * T;
  t.formula = "bytes = a*(key + value) read + a*(their cache rows) written + 8*slot_mapping";
  return t;
}
template <>
PagedKvWriteParams OpDescriptor<PagedKvWriteParams>::random_call(const bench::BenchCase& c) {
  // Tokens fill whole pages of a shuffled pool (decode: one token per sequence, each at
  // its own page), as an engine's page manager leaves them.
  bench::RandomInputs gen(c.seed);
  const DType act = c.dtype;
  PagedKvWriteParams p;
  p.num_tokens = c.dims.at("tokens"), p.page_size = c.dims.at("page_size");
  p.kv_heads = c.dims.at("kv_heads"), p.head_dim = c.dims.at("head_dim"), p.input_dtype = act;
  const bool decode = c.dims.at("decode") != 0;
  const std::int64_t pages_used = decode ? p.num_tokens : (p.num_tokens + p.page_size - 1) / p.page_size;
  p.num_pages = pages_used + 1;
  const auto pages = bench::shuffled(p.num_pages, c.seed);
  std::uint64_t rng = c.seed;
  for (std::int64_t t = 0; t < p.num_tokens; ++t) {
    const std::int64_t offset =
        decode ? static_cast<std::int64_t>(bench::splitmix64(rng) % static_cast<std::uint64_t>(p.page_size))
               : t % p.page_size;
    p.slot_mapping.push_back(pages[static_cast<std::size_t>(decode ? t : t / p.page_size)] * p.page_size + offset);
  }
  const Shape rows = {p.num_tokens, p.kv_heads, p.head_dim};
  const Shape cache = {p.num_pages, p.page_size, p.kv_heads, p.head_dim};
  p.key = gen(rows, -1, 1, act), p.value = gen(rows, -1, 1, act);
  p.key_cache = gen(cache, -1, 1, act), p.value_cache = gen(cache, -1, 1, act);
  return p;
}
template <>
void OpDescriptor<PagedKvWriteParams>::bench_cases(const bench::ShapePreset& preset,
                                                   const bench::SweepOptions& sweep, DType dtype,
                                                   bench::CaseList& cases) {
  using bench::CaseList;
  if (!preset.attention) return;
  const auto& m = *preset.attention;
  for (auto B : sweep.batches) {
    for (auto L : sweep.seqlens) {
      cases.add(name, kv_dims(m, {{"tokens", B * L}, {"decode", 0}}),
                CaseList::term("T", B * L) + " " + kv_shape(m) + " prefill", dtype, {}, false);
    }
  }
  for (auto B : sweep.decode_batches) {
    cases.add(name, kv_dims(m, {{"tokens", B}, {"decode", 1}}),
              CaseList::term("T", B) + " " + kv_shape(m) + " decode", dtype, {}, true);
  }
}
template <>
CheckUnits OpDescriptor<PagedKvWriteParams>::check_units(const PagedKvWriteParams&) {
  return {1, 1, 1, "rows", false};
}
template <>
PagedKvWriteParams OpDescriptor<PagedKvWriteParams>::slice(const PagedKvWriteParams& p,
                                                           const bench::Slice&) {
  return p;
}
template <>
NamedTensors OpDescriptor<PagedKvWriteParams>::slice_outputs(const PagedKvWriteParams&,
                                                             const NamedTensors& outputs,
                                                             const bench::Slice&) {
  return outputs;
}

template <>
ToleranceClass OpDescriptor<PagedKvGatherParams>::tolerance_class() {
  return ToleranceClass::exact;
}
template <>
NamedTensors OpDescriptor<PagedKvGatherParams>::outputs(const PagedKvGatherResult& r) {
  return {{"key", r.key}, {"value", r.value}};
}
template <>
bench::Traffic OpDescriptor<PagedKvGatherParams>::traffic(const PagedKvGatherParams& p) {
  using namespace bench;
  const double a = act_bytes(p.input_dtype), row = static_cast<double>(p.kv_heads * p.head_dim);
  double tokens = 0;
  for (auto len : p.seq_lens) tokens += static_cast<double>(len);
  Traffic t;
  t.bytes = 2 * a * tokens * row + 2 * a * static_cast<double>(p.batch * p.max_len) * row +
            4.0 * static_cast<double>(p.block_tables.size() + p.seq_lens.size());
  t.formula =
      "bytes = a*(cached K and V rows of every sequence) read + a*(K, V (batch, max_len)) "
      "written + 4*(block_tables + seq_lens)";
  return t;
}
template <>
PagedKvGatherParams OpDescriptor<PagedKvGatherParams>::random_call(const bench::BenchCase& c) {
  bench::RandomInputs gen(c.seed);
  const DType act = c.dtype;
  PagedKvGatherParams p;
  p.batch = c.dims.at("batch"), p.page_size = c.dims.at("page_size"), p.kv_heads = c.dims.at("kv_heads");
  p.head_dim = c.dims.at("head_dim"), p.input_dtype = act, p.max_len = c.dims.at("seqlen");
  p.max_pages_per_seq = (p.max_len + p.page_size - 1) / p.page_size;
  p.num_pages = p.batch * p.max_pages_per_seq + 1;
  const auto pages = bench::shuffled(p.num_pages, c.seed);
  for (std::int64_t i = 0; i < p.batch * p.max_pages_per_seq; ++i) {
    p.block_tables.push_back(pages[static_cast<std::size_t>(i)]);
  }
  p.seq_lens.assign(static_cast<std::size_t>(p.batch), p.max_len);
  const Shape cache = {p.num_pages, p.page_size, p.kv_heads, p.head_dim};
  p.key_cache = gen(cache, -1, 1, act), p.value_cache = gen(cache, -1, 1, act);
  return p;
}
template <>
void OpDescriptor<PagedKvGatherParams>::bench_cases(const bench::ShapePreset& preset,
                                                    const bench::SweepOptions& sweep, DType dtype,
                                                    bench::CaseList& cases) {
  using bench::CaseList;
  if (!preset.attention) return;
  const auto& m = *preset.attention;
  for (auto B : sweep.batches) {
    for (auto L : sweep.seqlens) {
      cases.add(name, kv_dims(m, {{"batch", B}, {"seqlen", L}}),
                CaseList::term("B", B) + " " + CaseList::term("L", L) + " " + kv_shape(m), dtype,
                {}, false);
    }
  }
}
template <>
CheckUnits OpDescriptor<PagedKvGatherParams>::check_units(const PagedKvGatherParams&) {
  return {1, 1, 1, "rows", false};
}
template <>
PagedKvGatherParams OpDescriptor<PagedKvGatherParams>::slice(const PagedKvGatherParams& p,
                                                             const bench::Slice&) {
  return p;
}
template <>
NamedTensors OpDescriptor<PagedKvGatherParams>::slice_outputs(const PagedKvGatherParams&,
                                                              const NamedTensors& outputs,
                                                              const bench::Slice&) {
  return outputs;
}

// ---- golden names and calls ---------------------------------------------------------------

template <>
GoldenNames OpDescriptor<PagedKvWriteParams>::golden_names() {
  return {{"key", "value", "key_cache", "value_cache", "slot_mapping"},
          {"key_cache", "value_cache"},
          {}};
}
template <>
GoldenCall OpDescriptor<PagedKvWriteParams>::golden_call(const PagedKvWriteParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  for (const auto& [name, t] : {std::pair{"key", &p.key}, {"value", &p.value},
                                {"key_cache", &p.key_cache}, {"value_cache", &p.value_cache}}) {
    detail::put_input(call, name, *t);
  }
  detail::put_indices(call, "slot_mapping", p.slot_mapping, {p.num_tokens});
  return call;
}
template <>
GoldenNames OpDescriptor<PagedKvGatherParams>::golden_names() {
  return {{"key_cache", "value_cache", "block_tables", "seq_lens"}, {"key", "value"}, {"max_len"}};
}
template <>
GoldenCall OpDescriptor<PagedKvGatherParams>::golden_call(const PagedKvGatherParams& p) {
  GoldenCall call = detail::golden_call_in(p.input_dtype);
  detail::put_input(call, "key_cache", p.key_cache), detail::put_input(call, "value_cache", p.value_cache);
  detail::put_indices(call, "block_tables", p.block_tables, {p.batch, p.max_pages_per_seq});
  detail::put_indices(call, "seq_lens", p.seq_lens, {p.batch});
  call.attrs["max_len"] = detail::attr_number(static_cast<double>(p.max_len));
  return call;
}

}  // namespace ssmkit
