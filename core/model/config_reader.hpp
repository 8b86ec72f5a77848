#pragma once
// Reading an HF config.json's keys with errors that name the file and the key: shared by the
// cache-shape parser (hf_config.cpp) and the parameter count (param_count.cpp).
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit::config_keys {

using nlohmann::json;


// A config value as it may appear in a message: numbers and booleans as written, strings
// shortened, lists and objects by their type only (dump() would recurse over any depth and
// put unbounded text into the message).
inline std::string brief(const json& v) {
  if (v.is_number() || v.is_boolean()) return v.dump();
  if (v.is_string()) return "\"" + quote_for_message(v.get_ref<const std::string&>()) + "\"";
  return std::string("an ") + (v.is_array() ? "array" : v.type_name());
}

class ConfigReader {
 public:
  ConfigReader(const json& config, std::string where) : config_(config), where_(std::move(where)) {}

  const std::string& where() const { return where_; }
  bool has(const std::string& key) const {
    return config_.contains(key) && !config_.at(key).is_null();
  }
  const json& at(const std::string& key, const std::string& expected) const {
    if (!has(key)) fail(key, expected + ", the key is missing");
    return config_.at(key);
  }
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    throw InputError(where_, key, expected);
  }

  std::int64_t integer(const std::string& key) const { return as_integer(key, at(key, "an integer")); }
  // The default bound (2^20) is far above any model's sizes and keeps their products (state
  // and KV bytes per layer, times the layers) inside 64 bits.
  std::int64_t positive(const std::string& key, std::int64_t max = std::int64_t{1} << 20) const {
    const std::int64_t v = integer(key);
    if (v <= 0 || v > max) {
      fail(key, "a positive integer up to " + std::to_string(max) + ", got " + std::to_string(v));
    }
    return v;
  }
  std::int64_t positive_or(const std::string& key, std::int64_t fallback) const {
    return has(key) ? positive(key) : fallback;
  }
  // The first of `keys` present; the error names them all.
  std::int64_t positive_of(std::initializer_list<std::string> keys) const {
    for (const auto& k : keys) {
      if (has(k)) return positive(k);
    }
    std::string names;
    for (const auto& k : keys) names += (names.empty() ? "" : " or ") + k;
    fail(names, "a positive integer, the key is missing");
  }
  std::string string(const std::string& key) const {
    const json& v = at(key, "a string");
    if (!v.is_string()) fail(key, std::string("a string, got ") + v.type_name());
    return v.get<std::string>();
  }
  bool boolean_or(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = config_.at(key);
    if (!v.is_boolean()) fail(key, std::string("true or false, got ") + v.type_name());
    return v.get<bool>();
  }
  const json& array(const std::string& key) const {
    const json& v = at(key, "a list");
    if (!v.is_array()) fail(key, std::string("a list, got ") + v.type_name());
    return v;
  }
  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    const json& list = array(key);
    check_list_length(key, list);
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) {
        fail(key + "[" + std::to_string(i) + "]", std::string("a string, got ") + list[i].type_name());
      }
      out.push_back(list[i].get<std::string>());
    }
    return out;
  }
  std::vector<std::int64_t> integers(const std::string& key) const {
    std::vector<std::int64_t> out;
    const json& list = array(key);
    check_list_length(key, list);
    for (std::size_t i = 0; i < list.size(); ++i) {
      out.push_back(as_integer(key + "[" + std::to_string(i) + "]", list[i]));
    }
    return out;
  }
  ConfigReader object(const std::string& key) const {
    const json& v = at(key, "an object");
    if (!v.is_object()) fail(key, std::string("an object, got ") + v.type_name());
    return ConfigReader(v, where_ + ": " + key);
  }
  std::int64_t max_position_embeddings() const {
    if (!has("max_position_embeddings")) return 0;
    return positive("max_position_embeddings", std::int64_t{1} << 32);
  }

 private:
  // Per-layer lists: more entries than limits::kMaxLayers is no model.
  void check_list_length(const std::string& key, const json& list) const {
    if (list.size() > static_cast<std::size_t>(limits::kMaxLayers)) {
      fail(key, "at most limits::kMaxLayers = " + std::to_string(limits::kMaxLayers) +
                    " entries, got " + std::to_string(list.size()));
    }
  }
  std::int64_t as_integer(const std::string& key, const json& v) const {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      fail(key, "an integer, got " + brief(v) + ", beyond 64-bit signed integers");
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    // Some exporters write whole numbers as floats (2.0); those are still the integer.
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
        return static_cast<std::int64_t>(d);
      }
      fail(key, "an integer, got " + brief(v));
    }
    fail(key, "an integer, got " + brief(v));
  }

  const json& config_;
  std::string where_;
};

}  // namespace ssmkit::config_keys
