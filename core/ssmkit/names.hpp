#pragma once
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace ssmkit {

// Names people type (model presets, bench presets, GPUs, dtypes) match whatever their case:
// "Nemotron-H-8B", "nemotron-h-8b" and "H100" name what their canonical spellings name.
inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

inline std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace ssmkit
