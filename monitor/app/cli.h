// Command-line entry point: parses argv and runs one subcommand. The only TU with CLI11.
#ifndef NEEDLEWATCH_APP_CLI_H_
#define NEEDLEWATCH_APP_CLI_H_

namespace needlewatch::app {

// Returns the process exit code. Usage errors print help and return 2.
int Main(int argc, char** argv);

}  // namespace needlewatch::app

#endif  // NEEDLEWATCH_APP_CLI_H_
