#pragma once
// JSON from a file the user names (config.json, bench and sweep results): syntax errors and
// nesting past limits::kMaxNestingDepth are InputErrors naming the file.
#include <nlohmann/json.hpp>
#include <string>

#include "ssmkit/error.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {

template <class Json = nlohmann::json>
Json parse_json_input(const std::string& text, const std::string& where, const std::string& what) {
  // Depth is bounded while parsing: a value nested 60,000 deep is refused before it is built
  // (printing or comparing it later would recurse that deep).
  bool too_deep = false;
  const typename Json::parser_callback_t depth_check = [&](int depth, typename Json::parse_event_t,
                                                           Json&) {
    if (depth > limits::kMaxNestingDepth) too_deep = true;
    return !too_deep;
  };
  Json j;
  try {
    j = Json::parse(text, depth_check);
  } catch (const typename Json::exception& e) {  // syntax, bad UTF-8, numbers beyond a double
    throw InputError(where, "", "not JSON (expected " + what + " in valid JSON): " + e.what());
  }
  if (too_deep) {
    throw InputError(where, "", what + " nested at most limits::kMaxNestingDepth = " +
                                    std::to_string(limits::kMaxNestingDepth) + " levels deep");
  }
  return j;
}

}  // namespace ssmkit
