// node-passt-launch: the first process of an attaching pasta, without a Node
// of its own (doc/design.md, "Starting pasta").
//
// bin/pasta.js starts with a line that sh(1) runs and JavaScript ignores:
// run as a program (as Podman runs pasta), it execs this launcher, built
// beside the addon, as `node-passt-launch SCRIPT ARGS...`; run by node, the
// script is just JavaScript. The launcher does what bin/pasta.js's first
// process did (src/cli/background.cts), with no Node start on the path the
// caller waits on:
//
// - The same cheap look at the arguments (MayAttach, as mayAttach()): when
//   the command line cannot attach, it execs `node --experimental-vm-modules
//   --no-warnings SCRIPT ARGS...` (node found on PATH, as `#!/usr/bin/env
//   node` would), and that is the whole run, one Node start as before, which
//   bin/pasta.js, seeing the option, loads with V8's code cache.
// - Otherwise it starts the background copy as startInBackground() does:
//   `node SCRIPT ARGS...` in a new session, standard streams on /dev/null,
//   the report pipe as fd 3 and our standard error as fd 4, named by
//   NODE_PASTA_READY_FD and NODE_PASTA_CONSOLE_FD; NODE_OPTIONS gains
//   --experimental-vm-modules --no-warnings; NODE_EXTRA_CA_CERTS is dropped.
//   It then waits for the copy's one-line report, as finishInForeground():
//   "ok": exit 0; "error MESSAGE": print it (JSON-quoted when it starts with
//   a quote) and exit 1; "no": exec that foreground node as above;
//   no report before the pipe closed: "the background process exited (...)
//   before the namespace was ready", exit 1.
//
// Linked statically, so that it runs wherever the tree is mounted (a
// container's root, as Podman's test bed), whatever its C library.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "launch.h"

namespace launch {

namespace {

const char* const kBackgroundNodeOptions[] = {"--experimental-vm-modules", "--no-warnings"};

/** mayAttach() of src/cli/background.cts: keep the two in step. */
bool MayAttach(int argc, char** argv) {
  bool netns = false;
  for (int i = 0; i < argc; i++) {
    const char* arg = argv[i];
    if (strcmp(arg, "--") == 0) break;
    if (strcmp(arg, "-f") == 0 || strcmp(arg, "--foreground") == 0 || strcmp(arg, "-h") == 0 ||
        strcmp(arg, "--help") == 0 || strcmp(arg, "--version") == 0)
      return false;
    if (strncmp(arg, "--fd", 4) == 0) return false;
    // /^-[^-]*F/: a short option cluster with F in it (before any second '-').
    if (arg[0] == '-') {
      for (const char* p = arg + 1; *p && *p != '-'; p++)
        if (*p == 'F') return false;
    }
    if (strncmp(arg, "--ne", 4) == 0) netns = true;
  }
  return netns;
}

}  // namespace

/** exec node SCRIPT ARGS... (PATH searched), or exit 127 as env(1) would. */
[[noreturn]] void ExecNode(char** nodeArgv) {
  execvp("node", nodeArgv);
  fprintf(stderr, "pasta: cannot run node: %s\n", strerror(errno));
  _exit(127);
}

/** A JSON string literal's text (the quotes included), decoded; what is not valid is kept as it is. */
std::string JsonUnquote(const std::string& s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return s;
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); i++) {
    char c = s[i];
    if (c != '\\' || i + 2 >= s.size()) {
      out += c;
      continue;
    }
    char e = s[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        if (i + 4 >= s.size()) return s;
        unsigned v = static_cast<unsigned>(strtoul(s.substr(i + 1, 4).c_str(), nullptr, 16));
        i += 4;
        // Surrogate pairs.
        if (v >= 0xd800 && v < 0xdc00 && i + 6 < s.size() && s[i + 1] == '\\' && s[i + 2] == 'u') {
          unsigned lo = static_cast<unsigned>(strtoul(s.substr(i + 3, 4).c_str(), nullptr, 16));
          if (lo >= 0xdc00 && lo < 0xe000) {
            v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
          }
        }
        if (v < 0x80) {
          out += static_cast<char>(v);
        } else if (v < 0x800) {
          out += static_cast<char>(0xc0 | (v >> 6));
          out += static_cast<char>(0x80 | (v & 0x3f));
        } else if (v < 0x10000) {
          out += static_cast<char>(0xe0 | (v >> 12));
          out += static_cast<char>(0x80 | ((v >> 6) & 0x3f));
          out += static_cast<char>(0x80 | (v & 0x3f));
        } else {
          out += static_cast<char>(0xf0 | (v >> 18));
          out += static_cast<char>(0x80 | ((v >> 12) & 0x3f));
          out += static_cast<char>(0x80 | ((v >> 6) & 0x3f));
          out += static_cast<char>(0x80 | (v & 0x3f));
        }
        break;
      }
      default: out += e; break;  // \" \\ \/
    }
  }
  return out;
}

/** Writes all of `text` to fd 2. */
void Say(const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(2, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

/** What a report pipe carries up to its first newline (or its end). */
std::string ReadReport(int fd) {
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.find('\n') != std::string::npos) break;
  }
  return text;
}

[[noreturn]] void ExecDetachedNode(char** nodeArgv, char** envp, int ready, int console, int err) {
  setsid();
  int readyHigh = fcntl(ready, F_DUPFD_CLOEXEC, 10);
  int consoleHigh = console >= 0 ? fcntl(console, F_DUPFD_CLOEXEC, 10) : -1;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (readyHigh < 0 || null < 0 || (console >= 0 && consoleHigh < 0)) _exit(126);
  if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err >= 0 ? err : null, 2) < 0 || dup2(readyHigh, 3) < 0) _exit(126);
  if (consoleHigh >= 0 && dup2(consoleHigh, 4) < 0) _exit(126);
  // Nothing else of ours goes to it (the caller's other fds, as Node's spawn closes them).
  for (int fd = consoleHigh >= 0 ? 5 : 4; fd < 1024; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  environ = envp;
  execvp("node", nodeArgv);
  _exit(127);
}

/** Our environment for a background Node of ours (the top of this file): NODE_OPTIONS gains our options. */
std::vector<std::string> NodeEnv() {
  std::vector<std::string> env;
  std::string nodeOptions;
  for (char** e = environ; *e; e++) {
    if (strncmp(*e, "NODE_EXTRA_CA_CERTS=", 20) == 0 || strncmp(*e, "NODE_PASTA_READY_FD=", 20) == 0 ||
        strncmp(*e, "NODE_PASTA_CONSOLE_FD=", 22) == 0)
      continue;
    if (strncmp(*e, "NODE_OPTIONS=", 13) == 0) {
      nodeOptions = *e + 13;
      continue;
    }
    env.push_back(*e);
  }
  for (const char* option : kBackgroundNodeOptions) {
    // As background.cts: options split on spaces, each added when missing.
    bool present = false;
    size_t start = 0;
    while (start <= nodeOptions.size()) {
      size_t end = nodeOptions.find(' ', start);
      if (end == std::string::npos) end = nodeOptions.size();
      if (nodeOptions.compare(start, end - start, option) == 0) present = true;
      start = end + 1;
    }
    if (!present) nodeOptions += (nodeOptions.empty() ? "" : " ") + std::string(option);
  }
  env.push_back("NODE_OPTIONS=" + nodeOptions);
  return env;
}

}  // namespace launch

int main(int argc, char** argv) {
  using namespace launch;
  if (argc < 2) {
    launch::Say("usage: node-passt-launch SCRIPT [ARGS...] (see bin/pasta.js)\n");
    return 2;
  }
  // node SCRIPT ARGS... (the background copy: its options go in NODE_OPTIONS, below, so that
  // its command line is the first process's, as the caller gave it).
  std::vector<char*> nodeArgv;
  static char node[] = "node";
  nodeArgv.push_back(node);
  for (int i = 1; i < argc; i++) nodeArgv.push_back(argv[i]);
  nodeArgv.push_back(nullptr);
  // node --experimental-vm-modules --no-warnings SCRIPT ARGS...: pasta in this process, which
  // bin/pasta.js then loads with V8's code cache (src/cli/codecache.cts) as the background
  // copy does. On the command line, not in NODE_OPTIONS: a command pasta runs inherits its
  // environment, and must not get our Node options.
  std::vector<char*> foreground;
  foreground.push_back(node);
  for (const char* option : kBackgroundNodeOptions) foreground.push_back(const_cast<char*>(option));
  for (int i = 1; i < argc; i++) foreground.push_back(argv[i]);
  foreground.push_back(nullptr);
  // --shared-engine: the user's shared engine serves the namespace (native/shared-client.cc);
  // RunShared() returns only when the engine says pasta should run by itself.
  if (launch::SharedWanted(argc - 2, argv + 2)) launch::RunShared(argv[1], argc - 2, argv + 2);
  if (!launch::MayAttach(argc - 2, argv + 2)) launch::ExecNode(foreground.data());

  // The background copy's environment (see the top of this file).
  std::vector<std::string> env = launch::NodeEnv();
  env.push_back("NODE_PASTA_READY_FD=3");
  env.push_back("NODE_PASTA_CONSOLE_FD=4");
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(&s[0]);
  envp.push_back(nullptr);

  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) {
    Say(std::string("pasta: error cannot start the background process: ") + strerror(errno) + "\n");
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    Say(std::string("pasta: cannot start the background process: ") + strerror(errno) + "\n");
    return 1;
  }
  // fd 4: our standard error; fd 3: the report pipe; 0-2: /dev/null.
  if (pid == 0) ExecDetachedNode(nodeArgv.data(), envp.data(), report[1], 2, -1);
  close(report[1]);

  std::string text = ReadReport(report[0]);
  size_t eol = text.find('\n');
  if (eol == std::string::npos) {
    // No report before the pipe closed: the copy died.
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string why = WIFSIGNALED(status) ? (sigabbrev_np(WTERMSIG(status)) ? std::string("SIG") + sigabbrev_np(WTERMSIG(status)) : "signal")
                                          : "status " + std::to_string(WEXITSTATUS(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) why += ", node not found";
    Say("pasta: the background process exited (" + why + ") before the namespace was ready\n");
    return 1;
  }
  std::string line = text.substr(0, eol);
  if (line == "ok") return 0;
  if (line == "no") {
    // The copy has exited having done nothing: carry on by ourselves, in the foreground.
    close(report[0]);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    launch::ExecNode(foreground.data());
  }
  std::string message = line.compare(0, 6, "error ") == 0 ? line.substr(6) : line;
  Say((message.size() > 0 && message[0] == '"' ? JsonUnquote(message) : "pasta: " + message) + "\n");
  return 1;
}
