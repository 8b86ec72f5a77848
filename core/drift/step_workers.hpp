#pragma once
// Threads that share the host work of one decode step (the float64 reference's batch rows,
// the lanes' host rounding). They live for the whole run: starting threads every step would
// cost more than a small step's work.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ssmkit::drift {

class StepWorkers {
 public:
  // `helpers` threads beside the caller's, which joins in during wait().
  explicit StepWorkers(std::int64_t helpers) {
    for (std::int64_t i = 0; i < helpers; ++i) threads_.emplace_back([this] { serve(); });
  }
  ~StepWorkers() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    for (auto& t : threads_) t.join();
  }
  StepWorkers(const StepWorkers&) = delete;
  StepWorkers& operator=(const StepWorkers&) = delete;

  std::int64_t threads() const { return static_cast<std::int64_t>(threads_.size()) + 1; }

  void post(std::function<void()> job) {
    {
      const std::lock_guard lock(mutex_);
      queue_.push_back(std::move(job));
    }
    work_.notify_one();
  }

  // Runs queued jobs on the calling thread too until every posted job has finished, then
  // rethrows the first exception a job threw.
  void wait() {
    std::unique_lock lock(mutex_);
    while (!queue_.empty()) run_one(lock);
    idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  // Called and returns with `lock` held; runs the front job without it.
  void run_one(std::unique_lock<std::mutex>& lock) {
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    std::exception_ptr error;
    try {
      job();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && !error_) error_ = error;
    if (--running_ == 0 && queue_.empty()) idle_.notify_all();
  }

  void serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      run_one(lock);
    }
  }

  std::mutex mutex_;
  std::condition_variable work_, idle_;
  std::deque<std::function<void()>> queue_;
  std::int64_t running_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace ssmkit::drift
