// The worker program's whole main(): its flags, then RunWorker. The `worker`
// executable calls it, and so does a worker forked from the coordinator's
// fork server (coordinator/fork_server.h): one program either way.
#pragma once

namespace taskfarm {

// Parses the worker's command line and runs it; returns the exit status
// (2 for a bad command line, 70 for an escaped exception: RunMain).
int WorkerProgramMain(int argc, char** argv);

}  // namespace taskfarm
