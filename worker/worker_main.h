// The worker program's whole main(): its flags, then RunWorker. The `worker`
// executable calls it, and so does a worker forked from the coordinator's
// fork server (coordinator/fork_server.h): one program either way.
#pragma once

namespace taskfarm {

// Parses the worker's command line and runs it; returns the exit status
// (2 for a bad command line, 70 for an escaped exception: RunMain).
int WorkerProgramMain(int argc, char** argv);

// What every worker does first that a worker forked from a warmed process
// inherits done: libcurl's global initialisation (and OpenSSL's under it,
// about a millisecond). For the fork server, before it forks any worker;
// single-threaded, as curl_global_init wants.
void WarmUpWorkerProgram();

}  // namespace taskfarm
