// node-passt-nsholder: the small program that a namespace holder and a
// namespace helper exec, so that neither keeps a copy-on-write image of the
// Node process it was forked from (doc/design.md, "The namespace holder").
//
//   node-passt-nsholder          the holder of createPasta() without a
//                                command (native/netns.cc, CreateChild):
//                                waits until it is killed (by close(), or by
//                                PR_SET_PDEATHSIG, which survives the exec,
//                                when the parent dies).
//   node-passt-nsholder helper   the namespace helper (HelperChild): serves
//                                the helper's requests on fd 3 (native/helper.cc).
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "helper.h"

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "helper") == 0) {
    // Named as before the exec, in ps(1) and in the kernel's seccomp log lines (comm=).
    prctl(PR_SET_NAME, "nshelper", 0, 0, 0);
    passt::HelperServe(3);
  }
  for (;;) pause();
}
