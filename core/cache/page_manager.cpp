#include "ssmkit/cache/page_manager.hpp"

#include <set>

#include "cache_util.hpp"
#include "ssmkit/error.hpp"

namespace ssmkit {

PageManager::PageManager(std::int64_t num_pages, std::int64_t page_size)
    : page_size_(page_size),
      owners_(static_cast<std::size_t>(std::max<std::int64_t>(num_pages, 0))) {
  cache_util::require_positive("PageManager", "page_size", page_size);
  if (num_pages < 2) {
    throw InputError(
        "PageManager", "num_pages",
        "at least 2 (page 0 is the reserved dummy page), got " + std::to_string(num_pages));
  }
  for (std::int64_t page = 1; page < num_pages; ++page) free_.push_back(page);
}

PageManager PageManager::from_state(const std::string& where, std::int64_t page_size,
                                    std::span<const std::int64_t> free_order,
                                    std::vector<std::optional<RequestId>> owners) {
  PageManager manager(static_cast<std::int64_t>(owners.size()), page_size);
  if (owners[kDummyPage]) throw InputError(where, "page 0", "the dummy page is never owned");
  std::vector<bool> listed(owners.size(), false);
  for (const std::int64_t page : free_order) {
    const std::string field = "free page " + std::to_string(page);
    cache_util::require_index(where, field, page, manager.num_pages());
    if (page == kDummyPage) throw InputError(where, field, "the dummy page is never free");
    if (owners[page]) {
      throw InputError(
          where, field,
          "free or owned, not both (owned by request " + std::to_string(*owners[page]) + ")");
    }
    if (listed[page]) throw InputError(where, field, "listed once, listed twice");
    listed[page] = true;
  }
  for (std::size_t page = 1; page < owners.size(); ++page) {
    if (!listed[page] && !owners[page]) {
      throw InputError(where, "page " + std::to_string(page), "free or owned, is neither (leak)");
    }
  }
  manager.free_.assign(free_order.begin(), free_order.end());
  manager.owners_ = std::move(owners);
  return manager;
}

std::int64_t PageManager::pages_for_tokens(std::int64_t tokens) const {
  return (tokens + page_size_ - 1) / page_size_;
}

std::optional<std::vector<std::int64_t>> PageManager::allocate(RequestId owner,
                                                               std::int64_t count) {
  if (count < 0) {
    throw InputError("PageManager::allocate", "count",
                     "a non-negative number of pages, got " + std::to_string(count));
  }
  if (count > pages_free()) return std::nullopt;
  std::vector<std::int64_t> pages(free_.begin(), free_.begin() + count);
  free_.erase(free_.begin(), free_.begin() + count);
  for (const std::int64_t page : pages) owners_[page] = owner;
  return pages;
}

std::optional<std::vector<std::int64_t>> PageManager::allocate_for_prefill(
    RequestId owner, std::int64_t prompt_tokens) {
  if (prompt_tokens < 0) {
    throw InputError("PageManager::allocate_for_prefill", "prompt_tokens",
                     "a non-negative length, got " + std::to_string(prompt_tokens));
  }
  return allocate(owner, pages_for_tokens(prompt_tokens));
}

void PageManager::free(RequestId owner, std::span<const std::int64_t> pages) {
  const std::string where = "PageManager::free";
  std::set<std::int64_t> seen;
  for (const std::int64_t page : pages) {
    const std::string field = "page " + std::to_string(page);
    cache_util::require_index(where, field, page, num_pages());
    if (page == kDummyPage) {
      throw InputError(where, field, "an allocated page; page 0 is the reserved dummy page");
    }
    if (!seen.insert(page).second || !owners_[page]) {
      throw InputError(where, field,
                       "a page owned by request " + std::to_string(owner) +
                           "; it is already free (double free)");
    }
    if (*owners_[page] != owner) {
      throw InputError(where, field,
                       "a page owned by request " + std::to_string(owner) +
                           "; it belongs to request " + std::to_string(*owners_[page]));
    }
  }
  for (const std::int64_t page : pages) {
    owners_[page].reset();
    free_.push_back(page);
  }
}

std::optional<RequestId> PageManager::owner_of(std::int64_t page) const {
  cache_util::require_index("PageManager::owner_of", "page", page, num_pages());
  return owners_[page];
}

}  // namespace ssmkit
