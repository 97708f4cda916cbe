// worker: runs tasks for a taskfarm coordinator (worker/worker_main.cc).
#include "worker/worker_main.h"

int main(int argc, char** argv) { return taskfarm::WorkerProgramMain(argc, argv); }
