// The launcher's parts (native/launch.cc, native/shared-client.cc).
#pragma once

#include <string>
#include <vector>

namespace launch {

/** Writes all of `text` to fd 2. */
void Say(const std::string& text);
/** A JSON string literal's text (the quotes included), decoded; what is not valid is kept as it is. */
std::string JsonUnquote(const std::string& s);
/** exec node ARGV (PATH searched), or exit 127 as env(1) would. */
[[noreturn]] void ExecNode(char** nodeArgv);
/** What a report pipe carries up to its first newline (or its end). */
std::string ReadReport(int fd);
/**
 * In a forked child: a new session, standard input and output on /dev/null,
 * standard error on `err` (else /dev/null), `ready` as fd 3 and `console`
 * (when >= 0) as fd 4, every other fd close-on-exec; then exec node
 * NODEARGV with ENVP, or exit 127 (126 if the fds cannot be set up).
 */
[[noreturn]] void ExecDetachedNode(char** nodeArgv, char** envp, int ready, int console, int err);
/** Our environment for a background Node of ours: NODE_OPTIONS gains our options, our report fds go. */
std::vector<std::string> NodeEnv();

/** Does this command line (pasta's arguments) ask for the shared engine (--shared-engine, or NODE_PASTA_SHARED_ENGINE=1)? */
bool SharedWanted(int argc, char** argv);
/**
 * Have the user's shared engine serve the namespace (src/cli/shared.ts):
 * exits as pasta would, or returns when the engine says pasta should run
 * by itself, NODE_PASTA_SHARED_FALLBACK then set.
 */
void RunShared(const char* script, int argc, char** argv);

}  // namespace launch
