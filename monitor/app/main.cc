// needlewatch: real-time safety monitor for microneedling devices.
#include <exception>
#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  // Startup errors are fatal, early and loud: one line, non-zero exit.
  try {
    return needlewatch::app::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "needlewatch: fatal: " << e.what() << "\n";
    return 1;
  }
}
