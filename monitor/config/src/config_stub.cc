// Placeholder until the loader lands.
#include <ostream>

#include "needlewatch/config/config.h"

namespace needlewatch::config {
int RunCheckConfig(const std::string& path, std::ostream& out, std::ostream& err) {
  (void)out;
  err << path << ": check-config is not implemented yet\n";
  return 2;
}
}  // namespace needlewatch::config
