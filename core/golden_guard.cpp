#include "ssmkit/golden_guard.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

#include "ssmkit/error.hpp"
#include "ssmkit/file_io.hpp"
#include "ssmkit/limits.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SSMKIT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SSMKIT_ASAN 1
#endif

namespace ssmkit {
namespace {

// Exit statuses of the child.
constexpr int kClean = 0;
constexpr int kInputError = 3;
constexpr int kOutOfMemory = 4;
constexpr int kOtherError = 5;

std::uint64_t address_space_in_use() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void run_child(int fd, const std::function<void()>& read, unsigned seconds) {
  // AddressSanitizer reserves terabytes of shadow memory; a limit would only break it.
#ifndef SSMKIT_ASAN
  const rlim_t cap = address_space_in_use() + limits::kGoldenReadAddressSpaceBytes;
  const rlimit lim{cap, cap};
  ::setrlimit(RLIMIT_AS, &lim);
#endif
  ::signal(SIGALRM, SIG_DFL);
  ::alarm(seconds);
  int status = kClean;
  try {
    read();
  } catch (const InputError& e) {
    write_all(fd, e.where() + '\0' + e.field() + '\0' + e.expected());
    status = kInputError;
  } catch (const std::bad_alloc&) {
    status = kOutOfMemory;
  } catch (const std::exception& e) {
    write_all(fd, e.what());
    status = kOtherError;
  }
  // _exit: no atexit handlers, so the parent's open HDF5 files and streams are left alone.
  ::_exit(status);
}

}  // namespace

void probe_in_child(const std::filesystem::path& path, const std::function<void()>& read,
                    unsigned seconds) {
  const std::string where = path.string();
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe() failed: " + std::string(std::strerror(errno)));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error("fork() failed: " + std::string(std::strerror(errno)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_child(fds[1], read, seconds);
  }
  ::close(fds[1]);
  std::string message;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && message.size() < 65536) message.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGALRM) {
      throw InputError(where, "", "an HDF5 file read within limits::kGoldenReadSeconds = " +
                                      std::to_string(seconds) +
                                      " s; the HDF5 library did not finish (corrupt file?)");
    }
    throw InputError(where, "", std::string("an HDF5 file the HDF5 library can read; it crashed on it (") +
                                    strsignal(sig) + "): the file is corrupt");
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == kClean) return;
  if (code == kInputError) {
    const std::size_t a = message.find('\0');
    const std::size_t b = a == std::string::npos ? a : message.find('\0', a + 1);
    if (b != std::string::npos) {
      throw InputError(message.substr(0, a), message.substr(a + 1, b - a - 1), message.substr(b + 1));
    }
  }
  if (code == kOutOfMemory) {
    throw InputError(where, "", "an HDF5 file readable within limits::kGoldenReadAddressSpaceBytes = " +
                                    std::to_string(limits::kGoldenReadAddressSpaceBytes >> 30) +
                                    " GiB of memory; reading it needed more");
  }
  // Any other status: something in the library ended the child (a sanitizer's report, an
  // exit() deep inside).
  throw InputError(where, "", "an HDF5 file the HDF5 library can read; reading it ended with exit " +
                                  std::to_string(code) + (message.empty() ? "" : " (" + quote_for_message(message) + ")") +
                                  ": the file is corrupt");
}

}  // namespace ssmkit
