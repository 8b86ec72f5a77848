#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ssmkit {

// "80GiB", "80GB", "81920MiB", "1.5TiB", "85899345920": binary units (KiB, MiB, GiB, TiB)
// are powers of 1024, decimal ones (KB, MB, GB, TB) powers of 1000, as NVIDIA's "80GB" and
// nvidia-smi's "MiB" use them; units are case-insensitive, a bare number is bytes. The
// result must be a whole number of bytes. InputError(where, field, ...) otherwise.
std::size_t parse_byte_size(std::string_view text, const std::string& where,
                            const std::string& field);

// The most tokens of one sequence anything here reads (2^32): it keeps tokens x bytes per
// token inside 64 bits, and no model has such a context.
constexpr std::int64_t kMaxTokenCount = std::int64_t{1} << 32;

// A positive token count up to kMaxTokenCount: "4096", "1k" (1024), "128K" (131072), "1M"
// (1048576). Context lengths are powers of two in model cards ("128K context" is 131072
// tokens), so k and M are 1024 and 1024^2.
std::int64_t parse_token_count(std::string_view text, const std::string& where,
                               const std::string& field);

// "1.50 GiB", "512 B": for people; machine outputs carry the exact byte counts.
std::string format_bytes(std::size_t bytes);
// "1K", "128K", "1M", "3000": the shortest exact spelling parse_token_count reads back.
std::string format_tokens(std::int64_t tokens);

}  // namespace ssmkit
