#pragma once
#include <optional>
#include <string>
#include <vector>

namespace ssmkit {

// Levenshtein distance (insertions, deletions, substitutions each cost 1).
std::size_t edit_distance(const std::string& a, const std::string& b);

// The candidate nearest to `name` when it is a likely misspelling of it: at most
// `max_distance` edits away (ties: the first listed).
std::optional<std::string> closest_name(const std::string& name,
                                        const std::vector<std::string>& candidates,
                                        std::size_t max_distance);

// "a, b, c"
std::string join_names(const std::vector<std::string>& names);

}  // namespace ssmkit
