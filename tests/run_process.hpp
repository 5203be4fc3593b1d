#pragma once
// Running one of the project's command-line tools from a test.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace mnv4::test {

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline ProcessResult run_process(const std::string& command_line) {
  ProcessResult r;
  FILE* p = ::popen((command_line + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.output += buf.data();
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace mnv4::test
