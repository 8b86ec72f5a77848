#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ssmkit/cache/cache_types.hpp"

namespace ssmkit {

// The pool of KV pages (EasyDeL's HBMPageManager, vLLM's block pool). Page 0 is the dummy
// page: never handed out, so that padded page-table entries have a harmless target. Every
// other page is free or owned by exactly one request. Pages are handed out in FIFO order,
// so a page just freed is the last to be reused, which makes a stale page table show up
// late rather than by chance.
class PageManager {
 public:
  static constexpr std::int64_t kDummyPage = 0;

  PageManager(std::int64_t num_pages, std::int64_t page_size);
  // Rebuilds a manager from its bookkeeping (a snapshot): `free_order` lists the free
  // pages in hand-out order, `owners[p]` is page p's owner. Inconsistent state (a page both
  // free and owned, or neither, the dummy page owned) is an InputError at `where`.
  static PageManager from_state(const std::string& where, std::int64_t page_size,
                                std::span<const std::int64_t> free_order,
                                std::vector<std::optional<RequestId>> owners);

  std::int64_t num_pages() const { return static_cast<std::int64_t>(owners_.size()); }
  std::int64_t page_size() const { return page_size_; }
  std::int64_t pages_free() const { return static_cast<std::int64_t>(free_.size()); }
  std::int64_t pages_in_use() const { return num_pages() - 1 - pages_free(); }
  std::int64_t pages_for_tokens(std::int64_t tokens) const;

  // `count` pages for `owner`, or nullopt (and nothing allocated) when fewer are free.
  std::optional<std::vector<std::int64_t>> allocate(RequestId owner, std::int64_t count);
  std::optional<std::vector<std::int64_t>> allocate_for_prefill(RequestId owner,
                                                                std::int64_t prompt_tokens);
  // Returns pages to the pool. Freeing the dummy page, a free page (double free) or a page
  // another request owns is an InputError, and then no page of the call is freed.
  void free(RequestId owner, std::span<const std::int64_t> pages);

  std::optional<RequestId> owner_of(std::int64_t page) const;
  std::vector<std::int64_t> free_pages() const { return {free_.begin(), free_.end()}; }

 private:
  std::int64_t page_size_;
  std::deque<std::int64_t> free_;
  std::vector<std::optional<RequestId>> owners_;  // per page; nullopt when free (or dummy)
};

}  // namespace ssmkit
