// usher: command line -> config -> server. Everything else lives in src/cli and below.
#include "cli/cli.hpp"

int main(int argc, char** argv) {
    return usher::cli::main(argc, argv);
}
