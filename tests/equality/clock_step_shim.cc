// LD_PRELOAD shim for the equality test: steps the process's wall clock back.
//
// clock_gettime(CLOCK_REALTIME) returns the real time minus the nanoseconds written (as a
// decimal number) in the file named by $NW_CLOCK_STEP_FILE; without that file (or variable) it
// returns the real time. The test writes the file mid-scenario, as an NTP step would move the
// clock. Only for tests: it reads the file on every call.
#include <dlfcn.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace {

using ClockGettime = int (*)(clockid_t, struct timespec*);

std::int64_t StepNs() {
  const char* path = std::getenv("NW_CLOCK_STEP_FILE");
  if (path == nullptr) return 0;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  return std::strtoll(buf, nullptr, 10);
}

}  // namespace

extern "C" int clock_gettime(clockid_t clock, struct timespec* ts) {
  static const auto real = reinterpret_cast<ClockGettime>(dlsym(RTLD_NEXT, "clock_gettime"));
  const int rc = real(clock, ts);
  if (rc != 0 || clock != CLOCK_REALTIME) return rc;
  const std::int64_t step = StepNs();
  if (step == 0) return rc;
  std::int64_t ns = static_cast<std::int64_t>(ts->tv_sec) * 1'000'000'000 + ts->tv_nsec - step;
  ts->tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts->tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return rc;
}
