#pragma once
// Checks every command applies to its flag values, so that no value is quietly dropped
// (an empty string is not "absent") and no byte that is not UTF-8 reaches a JSON report.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <string>

#include "ssmkit/file_io.hpp"

namespace ssmkit::app {

// "a positive number" (CLI::PositiveNumber's message prints the largest double in full).
inline const CLI::Validator kPositiveNumber(
    [](std::string& v) -> std::string {
      double d = 0.0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(d) || d <= 0.0) {
        return "a positive number, got '" + quote_for_message(v) + "'";
      }
      return "";
    },
    "POSITIVE", "POSITIVE");

// Every option of `app` and its subcommands that takes a value gets both checks; the error
// names the option: "--gpu-mem: a value, got an empty string".
inline void check_option_values(CLI::App& app) {
  static const CLI::Validator non_empty(
      [](std::string& v) -> std::string {
        return v.empty() ? "a value, got an empty string (leave the option out instead)" : "";
      },
      "", "NON_EMPTY");
  static const CLI::Validator utf8(
      [](std::string& v) -> std::string {
        return is_utf8(v) ? "" : "text in UTF-8, got '" + quote_for_message(v) + "'";
      },
      "", "UTF8");
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_type_size_max() > 0 && opt->get_name() != "--help") opt->check(non_empty)->check(utf8);
  }
  for (CLI::App* sub : app.get_subcommands({})) check_option_values(*sub);
}

}  // namespace ssmkit::app
