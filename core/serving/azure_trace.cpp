#include "ssmkit/serving/azure_trace.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <sstream>
#include <string>
#include <string_view>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/limits.hpp"

namespace ssmkit {
namespace {

constexpr std::array<std::string_view, 3> kColumns = {"TIMESTAMP", "ContextTokens",
                                                      "GeneratedTokens"};

std::vector<std::string_view> split_csv(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma == std::string_view::npos ? line.npos : comma - start));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Seconds since an arbitrary origin, split so that the fraction keeps its digits:
// Azure's timestamps carry 100 ns over a day-and-year count a double cannot hold exactly.
struct Instant {
  std::int64_t seconds = 0;
  double fraction = 0.0;
  bool is_date = false;  // "YYYY-MM-DD HH:MM:SS", not seconds
};

double operator-(const Instant& a, const Instant& b) {
  return static_cast<double>(a.seconds - b.seconds) + (a.fraction - b.fraction);
}

// "YYYY-MM-DD HH:MM:SS[.fraction]" or a non-negative number of seconds.
std::optional<Instant> parse_timestamp(std::string_view s) {
  if (s.size() >= 19 && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') &&
      s[13] == ':' && s[16] == ':') {
    const std::string_view year = s.substr(0, 4), month = s.substr(5, 2), day = s.substr(8, 2),
                           hour = s.substr(11, 2), minute = s.substr(14, 2),
                           second = s.substr(17, 2);
    for (const auto part : {year, month, day, hour, minute, second}) {
      if (!all_digits(part)) return std::nullopt;
    }
    const std::string_view rest = s.substr(19);
    if (!rest.empty() && (rest[0] != '.' || !all_digits(rest.substr(1)))) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year(to_int(year)),
                                           std::chrono::month(to_int(month)),
                                           std::chrono::day(to_int(day))};
    if (!date.ok() || to_int(hour) > 23 || to_int(minute) > 59 || to_int(second) > 60) {
      return std::nullopt;
    }
    Instant t;
    t.is_date = true;
    t.seconds = std::chrono::sys_days(date).time_since_epoch().count() * 86400LL +
                to_int(hour) * 3600LL + to_int(minute) * 60LL + to_int(second);
    if (!rest.empty()) {
      const std::string fraction = "0" + std::string(rest);
      std::from_chars(fraction.data(), fraction.data() + fraction.size(), t.fraction);
    }
    return t;
  }
  double seconds = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), seconds);
  // At most 10^15 s (millions of years): beyond that the whole seconds leave 64 bits.
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(seconds) || seconds < 0 ||
      seconds > 1e15) {
    return std::nullopt;
  }
  return Instant{static_cast<std::int64_t>(std::floor(seconds)), seconds - std::floor(seconds), false};
}

std::optional<std::int64_t> parse_count(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

struct Row {
  Instant arrival;
  std::int64_t prompt, output, line;
};

}  // namespace

std::vector<RequestSpec> read_azure_trace(const std::filesystem::path& path,
                                          const TraceSelection& selection) {
  const std::string file = path.string();
  std::istringstream in(read_text_file(path, "an Azure trace CSV"));
  std::string line;
  std::int64_t line_no = 0;
  auto next_line = [&]() -> bool {
    if (!std::getline(in, line)) return false;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // the Azure files are CRLF
    return true;
  };
  if (!next_line()) throw InputError(file, "", "an Azure trace CSV; the file is empty");
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark (spreadsheet exports)
  const auto header = split_csv(line);
  std::array<std::size_t, 3> column{};
  for (std::size_t c = 0; c < kColumns.size(); ++c) {
    const auto it = std::find(header.begin(), header.end(), kColumns[c]);
    if (it == header.end()) {
      throw InputError(file + ":1", std::string(kColumns[c]),
                       "a header naming the columns TIMESTAMP,ContextTokens,GeneratedTokens");
    }
    column[c] = static_cast<std::size_t>(it - header.begin());
  }

  std::vector<Row> rows;
  while (next_line()) {
    if (line.empty()) continue;
    const std::string where = file + ":" + std::to_string(line_no);
    const auto fields = split_csv(line);
    if (fields.size() != header.size()) {
      throw InputError(where, "", std::to_string(header.size()) + " comma-separated fields, got " +
                                      std::to_string(fields.size()));
    }
    const auto arrival = parse_timestamp(fields[column[0]]);
    if (!arrival) {
      throw InputError(where, "TIMESTAMP",
                       "'YYYY-MM-DD HH:MM:SS[.fraction]' or seconds, got '" +
                           quote_for_message(fields[column[0]]) + "'");
    }
    // Arrival order is the file's: a replay of a shuffled or spliced trace would otherwise
    // quietly be a different workload.
    if (!rows.empty()) {
      const Row& prev = rows.back();
      if (arrival->is_date != prev.arrival.is_date) {
        throw InputError(where, "TIMESTAMP",
                         std::string("the same format on every row; line ") + std::to_string(prev.line) +
                             " has " + (prev.arrival.is_date ? "a date" : "seconds") + ", this one " +
                             (arrival->is_date ? "a date" : "seconds"));
      }
      if (*arrival - prev.arrival < 0.0) {
        throw InputError(where, "TIMESTAMP",
                         "rows in arrival order; this one is earlier than line " +
                             std::to_string(prev.line) + " (sort the file by TIMESTAMP first)");
      }
    }
    const auto prompt = parse_count(fields[column[1]]);
    if (!prompt || *prompt < 1) {
      throw InputError(where, "ContextTokens",
                       "an integer >= 1, got '" + quote_for_message(fields[column[1]]) + "'");
    }
    const auto output = parse_count(fields[column[2]]);
    if (!output || *output < 0) {
      throw InputError(where, "GeneratedTokens",
                       "an integer >= 0, got '" + quote_for_message(fields[column[2]]) + "'");
    }
    if (*prompt > limits::kMaxTokensPerRequest - *output) {
      throw InputError(where, *output > *prompt ? "GeneratedTokens" : "ContextTokens",
                       "ContextTokens + GeneratedTokens at most limits::kMaxTokensPerRequest = " +
                           std::to_string(limits::kMaxTokensPerRequest) + ", got " +
                           std::to_string(*prompt) + " + " + std::to_string(*output));
    }
    rows.push_back({*arrival, *prompt, *output, line_no});
  }
  if (rows.empty()) throw InputError(file, "", "at least one request after the header");

  const Instant origin = rows.front().arrival;
  std::vector<RequestSpec> requests;
  double first = 0.0;
  for (const Row& row : rows) {
    const double t = row.arrival - origin;
    if (selection.start_s && t < *selection.start_s) continue;
    if (selection.end_s && t >= *selection.end_s) continue;
    if (selection.limit && static_cast<std::int64_t>(requests.size()) >= *selection.limit) break;
    if (requests.empty()) first = t;
    requests.push_back({t - first, row.prompt, row.output, row.line});
  }
  if (requests.empty()) {  // a replay of nothing would pass every check
    const double span = rows.back().arrival - origin;
    throw InputError(file, "start_s/end_s",
                     "a window holding at least one request; the trace spans 0 to " +
                         std::to_string(span) + " s after its first request");
  }
  return requests;
}

}  // namespace ssmkit
