// The executors a worker has: one row per kind that runs on workers.
#include "worker/executor.h"
#include "worker/url_executor.h"

namespace taskfarm {

// Defined in each executor's own file.
std::unique_ptr<Executor> MakeCpuExecutor(const ExecutorContext& context);
std::unique_ptr<Executor> MakeSleepExecutor(const ExecutorContext& context);
std::unique_ptr<Executor> MakeNoopExecutor(const ExecutorContext& context);
std::unique_ptr<Executor> MakeFaultExecutor(const ExecutorContext& context);
std::unique_ptr<Executor> MakeExecExecutor(const ExecutorContext& context);

void Fail(Finished* out, Code code, std::string error) {
  out->result.set_ok(false);
  out->result.set_error(std::move(error));
  out->result.set_error_code(std::string(CodeName(code)));
  out->retryable = IsRetryable(code);
}

std::string PastTimeout(std::string_view task, const pb::Assignment& a) {
  return std::string(task) + " ran past the task timeout of " + std::to_string(a.timeout_ms()) + " ms";
}

Executors MakeExecutors(const ExecutorContext& context) {
  Executors out;
  auto url = std::make_unique<UrlExecutor>(context);
  out.url = url.get();
  Executor* exec = out.Add(MakeExecExecutor(context));  // exec and sh differ only in their argv
  out.by_kind = {
      {pb::TaskSpec::kUrl, out.Add(std::move(url))},
      {pb::TaskSpec::kCpu, out.Add(MakeCpuExecutor(context))},
      {pb::TaskSpec::kSleep, out.Add(MakeSleepExecutor(context))},
      {pb::TaskSpec::kNoop, out.Add(MakeNoopExecutor(context))},
      {pb::TaskSpec::kFault, out.Add(MakeFaultExecutor(context))},
      {pb::TaskSpec::kExec, exec},
      {pb::TaskSpec::kSh, exec},
  };
  return out;
}

}  // namespace taskfarm
