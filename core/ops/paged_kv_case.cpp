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
    auto r = backend.paged_kv_write(p_);
    return {{"key_cache", r.key_cache}, {"value_cache", r.value_cache}};
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
    auto r = backend.paged_kv_gather(p_);
    return {{"key", r.key}, {"value", r.value}};
  }

 private:
  PagedKvGatherParams p_;
  std::string summary_;
};

}  // namespace

std::unique_ptr<OpCase> make_paged_kv_write_case(const GoldenCase& g) {
  return std::make_unique<PagedKvWriteCase>(g);
}
std::unique_ptr<OpCase> make_paged_kv_gather_case(const GoldenCase& g) {
  return std::make_unique<PagedKvGatherCase>(g);
}

}  // namespace ssmkit
