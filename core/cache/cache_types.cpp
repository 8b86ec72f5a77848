#include "ssmkit/cache/cache_types.hpp"

namespace ssmkit {

std::string_view cache_status_name(CacheStatus status) {
  switch (status) {
    case CacheStatus::ok: return "ok";
    case CacheStatus::out_of_pages: return "out of pages";
    case CacheStatus::out_of_slots: return "out of slots";
    case CacheStatus::sequence_full: return "sequence full";
  }
  return "unknown";
}

}  // namespace ssmkit
