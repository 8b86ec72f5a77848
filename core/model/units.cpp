#include "ssmkit/model/units.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <limits>
#include <utility>

#include "ssmkit/error.hpp"
#include "ssmkit/names.hpp"

namespace ssmkit {
namespace {

using u128 = unsigned __int128;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// `text` as number * multiplier(unit), exactly; nullopt when it is not of that form or
// not whole. The number is digits with at most one '.', at most 12 decimals.
struct Parsed {
  bool ok = false;
  bool whole = true;
  bool overflow = false;
  u128 value = 0;
};

template <std::size_t N>
Parsed parse_scaled(std::string_view text, const std::array<std::pair<const char*, u128>, N>& units) {
  Parsed p;
  text = trim(text);
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string_view number = text.substr(0, i);
  const std::string unit = lowercase(trim(text.substr(i)));
  u128 multiplier = 0;
  for (const auto& [name, m] : units) {
    if (unit == name) multiplier = m;
  }
  const auto dot = number.find('.');
  const std::string_view integer = number.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
  if (multiplier == 0 || integer.empty() || fraction.find('.') != std::string_view::npos ||
      (dot != std::string_view::npos && fraction.empty()) || fraction.size() > 12 ||
      integer.size() > 19) {
    return p;
  }
  u128 whole = 0, frac = 0, scale = 1;
  for (const char c : integer) whole = whole * 10 + static_cast<u128>(c - '0');
  for (const char c : fraction) {
    frac = frac * 10 + static_cast<u128>(c - '0');
    scale *= 10;
  }
  p.ok = true;
  p.whole = (frac * multiplier) % scale == 0;
  p.value = whole * multiplier + frac * multiplier / scale;
  p.overflow = p.value > static_cast<u128>(std::numeric_limits<std::int64_t>::max());
  return p;
}

constexpr u128 kKi = 1024;

}  // namespace

std::size_t parse_byte_size(std::string_view text, const std::string& where,
                            const std::string& field) {
  static const std::array<std::pair<const char*, u128>, 10> units{{
      {"", 1}, {"b", 1},
      {"kb", 1000}, {"mb", 1000 * 1000}, {"gb", u128(1000) * 1000 * 1000},
      {"tb", u128(1000) * 1000 * 1000 * 1000},
      {"kib", kKi}, {"mib", kKi * kKi}, {"gib", kKi * kKi * kKi}, {"tib", kKi * kKi * kKi * kKi},
  }};
  const Parsed p = parse_scaled(text, units);
  const std::string got = " got \"" + std::string(text) + "\"";
  if (!p.ok) {
    throw InputError(where, field,
                     "a size such as 80GiB, 80GB, 81920MiB or a number of bytes (units B, KB, "
                     "MB, GB, TB, KiB, MiB, GiB, TiB)," + got);
  }
  if (!p.whole) throw InputError(where, field, "a whole number of bytes," + got);
  if (p.overflow) throw InputError(where, field, "a size below 8 EiB," + got);
  return static_cast<std::size_t>(p.value);
}

std::int64_t parse_token_count(std::string_view text, const std::string& where,
                               const std::string& field) {
  static const std::array<std::pair<const char*, u128>, 3> units{{
      {"", 1}, {"k", kKi}, {"m", kKi * kKi},
  }};
  const Parsed p = parse_scaled(text, units);
  const std::string got = " got \"" + std::string(text) + "\"";
  if (!p.ok || !p.whole || p.overflow || p.value == 0 || p.value > static_cast<u128>(kMaxTokenCount)) {
    throw InputError(where, field,
                     "a positive whole number of tokens up to 4096M (2^32) such as 4096, 1k "
                     "(1024), 128k (131072) or 1M (1048576)," + got);
  }
  return static_cast<std::int64_t>(p.value);
}

std::string format_bytes(std::size_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", value, kUnits[unit]);
  }
  return buf;
}

std::string format_tokens(std::int64_t tokens) {
  if (tokens > 0 && tokens % (1024 * 1024) == 0) return std::to_string(tokens / (1024 * 1024)) + "M";
  if (tokens > 0 && tokens % 1024 == 0) return std::to_string(tokens / 1024) + "K";
  return std::to_string(tokens);
}

}  // namespace ssmkit
