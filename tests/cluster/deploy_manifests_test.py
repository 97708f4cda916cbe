#!/usr/bin/python3
"""Checks the deployment recipes in deploy/ without a cluster.

    /usr/bin/python3 tests/cluster/deploy_manifests_test.py [WORKER_BIN COORDINATOR_BIN]

Kubernetes (every YAML file under deploy/kubernetes, examples included):
  * each document parses and has kind, apiVersion and metadata.name;
  * the worker Deployment runs `worker --connect tcp://SERVICE:PORT` with the
    coordinator Service's name and port;
  * the coordinator Job runs `coordinator --bind tcp://ADDR:PORT` on the port
    the Service targets (a named targetPort is looked up in the container), and
    the Service selects the Job's pods;
  * --curve-secret, --server-key and --authorized-keys point into Secret
    volumes, at keys the (example) Secrets have; secret keys are not
    world-readable; --tasks points into the ConfigMap, whose task lines use
    the task language;
  * the NetworkPolicy lets the worker pods reach the coordinator's port;
  * shards/: the Indexed Job's coordinators run --shard $(INDEX)/N (N its
    completions, INDEX the completion index from the downward API) with local
    workers, --resume, and their own --output and --journal on a
    ReadWriteMany claim; the merge Job joins exactly those outputs; with the
    programs given, the N command lines run here at once as the pods would
    (mounts moved to a temporary directory), then the merge's: every id once;
    a shard run again (a retried pod) takes its tasks from its journal;
  * with the programs given, every flag in the manifests and the systemd unit
    is one that `worker --help` / `coordinator --help` (`coordinator merge
    --help`) lists.
systemd: `systemd-analyze verify` on the unit (skipped without systemd-analyze).
Slurm: `bash -n` on the batch scripts (and shellcheck, where installed).
ssh launcher: scripts/launch-workers compiles (it is Python).
Needs python3-yaml (Debian's); without it prints SKIP and exits 77.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml missing (apt-get install python3-yaml; scripts/setup installs it)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
UNIT = os.path.join(DEPLOY, "systemd", "taskfarm-worker@.service")
SBATCH = os.path.join(DEPLOY, "slurm", "taskfarm-workers.sbatch")
SHARDS_SBATCH = os.path.join(DEPLOY, "slurm", "taskfarm-shards.sbatch")
LAUNCHER = os.path.join(ROOT, "scripts", "launch-workers")

WORKER_BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "worker")
COORD_BIN = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "bin", "coordinator")

passed = failed = skipped = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   - {what}")
    else:
        failed += 1
        print(f"FAIL - {what}" + (f": {detail}" if detail else ""))
    return ok


def skip(what, why):
    global skipped
    skipped += 1
    print(f"skip - {what}: {why}")


# --- Kubernetes ------------------------------------------------------------

def load_manifests():
    docs = []
    files = []
    for dirpath, _, names in os.walk(K8S):
        for name in sorted(names):
            if name.endswith((".yaml", ".yml")):
                files.append(os.path.join(dirpath, name))
    for path in sorted(files):
        rel = os.path.relpath(path, ROOT)
        try:
            with open(path, encoding="utf-8") as f:
                loaded = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            check(False, f"{rel} parses as YAML", str(e))
            continue
        check(bool(loaded), f"{rel} parses as YAML ({len(loaded)} document(s))")
        for i, d in enumerate(loaded):
            where = f"{rel} document {i + 1}"
            ok = (isinstance(d, dict) and isinstance(d.get("kind"), str) and isinstance(d.get("apiVersion"), str)
                  and isinstance(d.get("metadata"), dict) and isinstance(d["metadata"].get("name"), str)
                  and d["metadata"]["name"] != "")
            if check(ok, f"{where} has kind, apiVersion and metadata.name",
                     f"kind={d.get('kind')!r} apiVersion={d.get('apiVersion')!r}" if isinstance(d, dict) else repr(d)):
                d["_file"] = rel
                docs.append(d)
    return files, docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def pod_spec(workload):
    return workload.get("spec", {}).get("template", {}).get("spec", {})


def pod_labels(workload):
    return workload.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def argv_of(container):
    return [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]


def flag(argv, name):
    """The value of --name in argv (`--name V` or `--name=V`), or None."""
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


def endpoint(value):
    m = re.fullmatch(r"tcp://(\[[^\]]+\]|[^:/]+):(\d+)", value or "")
    return (m.group(1), int(m.group(2))) if m else (None, None)


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def coordinator_container(workload):
    return next((c for c in pod_spec(workload).get("containers") or [] if argv_of(c) and
                 os.path.basename(argv_of(c)[0]) == "coordinator"), None)


def is_shard_job(job):
    return job.get("spec", {}).get("completionMode") == "Indexed"


def is_merge_job(job):
    c = coordinator_container(job)
    return c is not None and argv_of(c)[1:2] == ["merge"]


def secret_keys(secret):
    return set((secret.get("data") or {}).keys()) | set((secret.get("stringData") or {}).keys())


def covering_mount(pod, container, path):
    """The volumeMount that holds `path`, its volume and the path inside it,
    or an error string."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    if best is None:
        return f"no volumeMount covers {path}"
    rel = path[len(best["mountPath"].rstrip("/")):].lstrip("/")
    if best.get("subPath"):
        rel = best["subPath"] if not rel else rel
    volume = next((v for v in pod.get("volumes") or [] if v["name"] == best["name"]), None)
    if volume is None:
        return f"volumeMount {best['name']} has no volume"
    return best, volume, rel


def mounted_file(pod, container, path, docs):
    """Where `path` comes from: (kind, source name, key or None for a whole
    directory, mode) or an error string."""
    found = covering_mount(pod, container, path)
    if isinstance(found, str):
        return found
    best, volume, rel = found
    for kind, field, name_field in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
        src = volume.get(field)
        if src is None:
            continue
        name = src.get(name_field)
        default_mode = src.get("defaultMode", 0o644)
        if not rel:
            return (kind, name, None, default_mode)
        items = src.get("items")
        if items:
            item = next((it for it in items if it["path"] == rel), None)
            if item is None:
                return f"{kind} volume {best['name']} has no item with path {rel}"
            return (kind, name, item["key"], item.get("mode", default_mode))
        return (kind, name, rel, default_mode)
    return f"volume {best['name']} is neither a Secret nor a ConfigMap"


def check_source(docs, pod, container, path, want_kind, what, secret_file=False):
    found = mounted_file(pod, container, path, docs)
    if isinstance(found, str):
        return check(False, what, found)
    kind, name, key, mode = found
    if not check(kind == want_kind, what, f"{path} comes from a {kind}, not a {want_kind}"):
        return False
    source = next((d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name), None)
    if not check(source is not None, f"{what}: the {kind} {name} is among the manifests"):
        return False
    keys = secret_keys(source) if kind == "Secret" else set((source.get("data") or {}).keys())
    if key is None:
        check(bool(keys), f"{what}: the {kind} {name} has entries for the directory")
    else:
        check(key in keys, f"{what}: the {kind} {name} has key {key}", f"it has {sorted(keys)}")
    if secret_file:
        check(mode is not None and (mode & 0o007) == 0, f"{what}: not world-readable (mode {mode:o})")
    return source


def check_kubernetes():
    files, docs = load_manifests()
    if not check(bool(files), "deploy/kubernetes has YAML files"):
        return [], []
    services, deployments = by_kind(docs, "Service"), by_kind(docs, "Deployment")
    jobs = [j for j in by_kind(docs, "Job") if not is_shard_job(j) and not is_merge_job(j)]
    check(len(jobs) == 1, "one Job (the coordinator) besides the shards' Jobs", f"found {len(jobs)}")
    check(len(deployments) == 1, "one Deployment (the workers)", f"found {len(deployments)}")
    check(len(services) >= 1, "a Service for the coordinator")
    check(bool(by_kind(docs, "Secret")), "the Secrets' shape is among the manifests")
    check(bool(by_kind(docs, "ConfigMap")), "a ConfigMap for the task file")
    if not (jobs and deployments and services):
        return docs, []
    job, deployment = jobs[0], deployments[0]
    argvs = []

    # The coordinator Job and its Service.
    jpod = pod_spec(job)
    jcont = coordinator_container(job)
    if not check(jcont is not None, "the Job runs `coordinator`"):
        return docs, argvs
    jargv = argv_of(jcont)
    argvs.append(("coordinator", jargv, job["_file"]))
    check(flag(jargv, "--workers") == "0", "the coordinator starts no local workers (--workers 0)")
    check(jpod.get("restartPolicy") in ("Never", "OnFailure"), "the Job's pods have restartPolicy Never/OnFailure")
    service = next((s for s in services if selects(s.get("spec", {}).get("selector"), pod_labels(job))), None)
    if not check(service is not None, "a Service selects the coordinator Job's pods",
                 f"Job pod labels {pod_labels(job)}"):
        return docs, argvs
    sname = service["metadata"]["name"]
    ports = service["spec"].get("ports") or []
    check(len(ports) >= 1, f"Service {sname} exposes a port")
    sport = ports[0]
    target = sport.get("targetPort", sport["port"])
    if isinstance(target, str) and not target.isdigit():
        named = [p for c in jpod["containers"] for p in c.get("ports") or [] if p.get("name") == target]
        check(len(named) == 1, f"Service targetPort '{target}' names a port of the coordinator container")
        target_port = named[0]["containerPort"] if named else None
    else:
        target_port = int(target)
    bind_host, bind_port = endpoint(flag(jargv, "--bind"))
    check(bind_port is not None, "the coordinator has --bind tcp://ADDR:PORT", f"--bind {flag(jargv, '--bind')!r}")
    check(bind_port == target_port, f"the coordinator binds the port the Service targets ({target_port})",
          f"--bind port {bind_port}")
    loopback = bind_host is not None and (bind_host.startswith("127.") or bind_host in ("localhost", "[::1]"))
    check(not loopback, "the coordinator binds an address other pods reach (not loopback)")
    secure = flag(jargv, "--curve-secret") and flag(jargv, "--authorized-keys")
    check(bool(secure), "the coordinator runs with CURVE (--curve-secret and --authorized-keys)")
    check("--insecure" not in jargv, "the coordinator is not --insecure")
    if flag(jargv, "--curve-secret"):
        check_source(docs, jpod, jcont, flag(jargv, "--curve-secret"), "Secret",
                     "the coordinator's --curve-secret is mounted from a Secret", secret_file=True)
    if flag(jargv, "--authorized-keys"):
        check_source(docs, jpod, jcont, flag(jargv, "--authorized-keys"), "Secret",
                     "the coordinator's --authorized-keys directory is a Secret volume")
    tasks_path = flag(jargv, "--tasks")
    if check(tasks_path is not None, "the coordinator has --tasks"):
        cm = check_source(docs, jpod, jcont, tasks_path, "ConfigMap", "the task file comes from a ConfigMap")
        if cm:
            found = mounted_file(jpod, jcont, tasks_path, docs)
            text = (cm.get("data") or {}).get(found[2], "")
            bad = [ln for ln in text.splitlines()
                   if ln.split("#")[0].strip() and
                   not re.match(r"^\s*(url\s+\S+|cpu\s+\w+\s+\d+|sleep\s+\d+|noop)\s*(#.*)?$", ln)]
            check(text.strip() and not bad, "the ConfigMap's task lines use the task language", f"bad lines {bad}")

    # The worker Deployment.
    dpod = pod_spec(deployment)
    dcont = next((c for c in dpod.get("containers") or [] if argv_of(c) and
                  os.path.basename(argv_of(c)[0]) == "worker"), None)
    if not check(dcont is not None, "the Deployment runs `worker`"):
        return docs, argvs
    dargv = argv_of(dcont)
    argvs.append(("worker", dargv, deployment["_file"]))
    chost, cport = endpoint(flag(dargv, "--connect"))
    short = (chost or "").split(".")[0]
    check(short == sname and (chost == sname or ".svc" in chost or chost.count(".") == 1),
          f"the workers connect to the Service's DNS name ({sname})", f"--connect {flag(dargv, '--connect')!r}")
    check(cport == sport["port"], f"the workers connect to the Service's port ({sport['port']})", f"port {cport}")
    check("--forever" in dargv, "the workers stay between runs (--forever)")
    selector = deployment["spec"].get("selector", {}).get("matchLabels", {})
    check(selects(selector, pod_labels(deployment)), "the Deployment's selector matches its pod labels")
    check(not selects(service["spec"]["selector"], pod_labels(deployment)),
          "the coordinator Service does not select the worker pods")
    for name in ("--curve-secret", "--server-key"):
        path = flag(dargv, name)
        if check(path is not None, f"the workers have {name}"):
            check_source(docs, dpod, dcont, path, "Secret", f"the workers' {name} is mounted from a Secret",
                         secret_file=(name == "--curve-secret"))
    env_names = {e["name"] for e in dcont.get("env") or []}
    for a in dargv:
        for ref in re.findall(r"\$\((\w+)\)", a):
            check(ref in env_names, f"the workers' $({ref}) is defined in env")

    # Only the workers reach the coordinator.
    for pol in by_kind(docs, "NetworkPolicy"):
        spec = pol["spec"]
        check(selects(spec.get("podSelector", {}).get("matchLabels"), pod_labels(job)),
              f"NetworkPolicy {pol['metadata']['name']} applies to the coordinator pods")
        rules = spec.get("ingress") or []
        allowed = any(
            any(selects(f.get("podSelector", {}).get("matchLabels"), pod_labels(deployment)) for f in r.get("from", []))
            and any(p.get("port") in (target_port, target) for p in r.get("ports", []))
            for r in rules)
        check(allowed, f"NetworkPolicy {pol['metadata']['name']} lets the workers reach port {target_port}")
    return docs, argvs


# --- Kubernetes: shards (an Indexed Job of coordinators, and their merge) ----

INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
MERGE_VALUE_FLAGS = ("--tasks", "-t", "--urls", "--args")


def expand(arg, env):
    """Kubernetes' $(NAME) expansion of a command-line word."""
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), arg)


def claim_of(pod, container, path):
    found = covering_mount(pod, container, path)
    return None if isinstance(found, str) else found[1].get("persistentVolumeClaim", {}).get("claimName")


def merge_inputs(argv):
    """The positional words of `coordinator merge ...`: OUT, then the shards."""
    words, skip_next = [], False
    for a in argv[2:]:
        if skip_next:
            skip_next = False
        elif a in MERGE_VALUE_FLAGS:
            skip_next = True
        elif not a.startswith("-"):
            words.append(a)
    return words


def check_shards(docs):
    """Returns the argvs for the flag check and what run_shards needs (or None)."""
    shard_jobs = [j for j in by_kind(docs, "Job") if is_shard_job(j)]
    merge_jobs = [j for j in by_kind(docs, "Job") if is_merge_job(j)]
    if not check(len(shard_jobs) == 1 and len(merge_jobs) == 1, "one Indexed Job of shards and one Job merging them",
                 f"found {len(shard_jobs)} and {len(merge_jobs)}"):
        return [], None
    job, merge = shard_jobs[0], merge_jobs[0]
    spec = job["spec"]
    n = spec.get("completions")
    check(isinstance(n, int) and n >= 1 and 1 <= spec.get("parallelism", 1) <= n,
          f"the shards' Job has completions N ({n}) and parallelism at most N")
    pod, cont = pod_spec(job), coordinator_container(job)
    if not check(cont is not None, "the shards' Job runs `coordinator`"):
        return [], None
    check(pod.get("restartPolicy") == "Never", "the shards' pods have restartPolicy Never (a retry is a new pod)")
    argv = argv_of(cont)
    m = re.fullmatch(r"\$\((\w+)\)/(\d+)", flag(argv, "--shard") or "")
    if not check(m is not None, "the shards run --shard $(VAR)/N", f"--shard {flag(argv, '--shard')!r}"):
        return [], None
    var = m.group(1)
    check(int(m.group(2)) == n, f"--shard's N is the Job's completions ({n})", f"--shard {flag(argv, '--shard')}")
    env = {e["name"]: e for e in cont.get("env") or []}
    field = env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    check(field == INDEX_FIELD, f"$({var}) is the pod's completion index (downward API)", f"fieldPath {field!r}")
    for a in argv:
        for ref in re.findall(r"\$\((\w+)\)", a):
            check(ref in env, f"the shards' $({ref}) is defined in env")
    check(int(flag(argv, "--workers") or 0) > 0 and flag(argv, "--bind") is None,
          "each shard runs its own local workers (--workers > 0, no --bind)")
    check("--resume" in argv, "every attempt has --resume (a retried index continues from its journal)")
    claim = None
    for name in ("--output", "--journal"):
        path = flag(argv, name) or ""
        if not check(f"$({var})" in path, f"each shard has its own {name} ($({var}) in it)", f"{name} {path!r}"):
            continue
        claim = claim_of(pod, cont, path)
        check(claim is not None, f"the shards' {name} is on a PersistentVolumeClaim")
        pvc = next((d for d in by_kind(docs, "PersistentVolumeClaim") if d["metadata"]["name"] == claim), None)
        if claim and check(pvc is not None, f"the claim {claim} is among the manifests"):
            check(n == 1 or "ReadWriteMany" in (pvc.get("spec") or {}).get("accessModes", []),
                  f"{claim} is ReadWriteMany (the shards' pods may be on several nodes)")
    tasks = flag(argv, "--tasks")
    if check(tasks is not None, "the shards have --tasks"):
        check_source(docs, pod, cont, tasks, "ConfigMap", "the shards' task file comes from a ConfigMap")
    if (cont.get("securityContext") or {}).get("readOnlyRootFilesystem"):
        found = covering_mount(pod, cont, "/tmp/coordinator.sock")
        check(not isinstance(found, str) and "emptyDir" in found[1],
              "a read-only root has a writable /tmp (emptyDir) for the local workers' ipc:// socket")

    # The merge Job joins exactly the shards' outputs, from the same claim.
    mpod, mcont = pod_spec(merge), coordinator_container(merge)
    margv = argv_of(mcont)
    words = merge_inputs(margv)
    want = [expand(flag(argv, "--output") or "", {var: str(k)}) for k in range(n)]
    check(words[1:] == want, f"the merge Job joins the {n} shards' --output files", f"it joins {words[1:]}")
    check(flag(margv, "--tasks") == tasks, "the merge Job reads the shards' task file",
          f"--tasks {flag(margv, '--tasks')}")
    if tasks:
        check_source(docs, mpod, mcont, tasks, "ConfigMap", "the merge Job's task file comes from a ConfigMap")
    check(all(claim_of(mpod, mcont, w) == claim for w in words) and claim is not None,
          f"the merge Job reads and writes on the shards' claim ({claim})")
    check(mpod.get("restartPolicy") in ("Never", "OnFailure"), "the merge Job's pod has restartPolicy Never/OnFailure")
    return ([("coordinator", argv, job["_file"]), ("coordinator merge", margv, merge["_file"])],
            (job, merge, var, n))


def local_dirs(pod, container, root, name, docs):
    """Directories standing in for the container's mounts: a claim shared by
    name, a ConfigMap's items written out, an emptyDir of this pod's own."""
    dirs = {}
    for m in container.get("volumeMounts") or []:
        volume = next(v for v in pod.get("volumes") or [] if v["name"] == m["name"])
        if "persistentVolumeClaim" in volume:
            d = os.path.join(root, "claim-" + volume["persistentVolumeClaim"]["claimName"])
        else:
            d = os.path.join(root, name, m["name"])
        os.makedirs(d, exist_ok=True)
        if "configMap" in volume:
            cm = next(c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == volume["configMap"]["name"])
            data = cm.get("data") or {}
            items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
            for it in items:
                with open(os.path.join(d, it["path"]), "w", encoding="utf-8") as f:
                    f.write(data[it["key"]])
        dirs[m["mountPath"].rstrip("/")] = d
    return dirs


def relocate(arg, dirs):
    for mp in sorted(dirs, key=len, reverse=True):
        if arg == mp or arg.startswith(mp + "/"):
            return dirs[mp] + arg[len(mp):]
    return arg


def record_ids(path):
    """The ids of a record file, and whether every record is ok."""
    ids, all_ok = [], True
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            ids.append(r["id"])
            all_ok = all_ok and r.get("ok") is True
    return ids, all_ok


def run_logged(cmd, log_path, timeout):
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return None


def tail(path, lines=8):
    with open(path, encoding="utf-8", errors="replace") as f:
        return " | ".join(f.read().splitlines()[-lines:])


def run_shards(docs, found):
    """The Indexed Job's command line run here, N coordinators at once as its
    pods would (paths moved to a temporary directory), then the merge Job's."""
    if not (os.access(COORD_BIN, os.X_OK) and os.access(WORKER_BIN, os.X_OK)):
        skip("the shards' Job run locally", f"no programs at {WORKER_BIN}, {COORD_BIN} (build first)")
        return
    job, merge, var, n = found
    pod, cont = pod_spec(job), coordinator_container(job)
    argv = argv_of(cont)
    with tempfile.TemporaryDirectory() as root:
        cmds, logs, procs = [], [], []
        try:
            for k in range(n):
                dirs = local_dirs(pod, cont, root, f"shard-{k}", docs)
                cmds.append([COORD_BIN] + [relocate(expand(a, {var: str(k)}), dirs) for a in argv[1:]])
                logs.append(os.path.join(root, f"shard-{k}.log"))
                with open(logs[k], "w", encoding="utf-8") as log:
                    procs.append(subprocess.Popen(cmds[k], stdout=log, stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 120
            for k, p in enumerate(procs):
                try:
                    rc = p.wait(timeout=max(1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    rc = None
                check(rc == 0, f"shard {k}/{n}, run as its pod would, exits 0", f"exit {rc}: {tail(logs[k])}")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        tasks = relocate(flag(argv, "--tasks"), local_dirs(pod, cont, root, "shard-0", docs))
        with open(tasks, encoding="utf-8") as f:
            total = sum(1 for ln in f if re.sub(r"(^|\s)#.*", "", ln).strip())
        outputs = [flag(c, "--output") for c in cmds]
        for k, out in enumerate(outputs):
            ids, all_ok = record_ids(out) if os.path.exists(out) else ([], False)
            check(sorted(ids) == list(range(k, total, n)) and all_ok,
                  f"shard {k}/{n}'s output has its ids (id % {n} == {k}) once, all ok", f"ids {sorted(ids)}")

        mpod, mcont = pod_spec(merge), coordinator_container(merge)
        mdirs = local_dirs(mpod, mcont, root, "merge", docs)
        mcmd = [COORD_BIN] + [relocate(a, mdirs) for a in argv_of(mcont)[1:]]
        mlog = os.path.join(root, "merge.log")
        rc = run_logged(mcmd, mlog, 60)
        merged = merge_inputs(mcmd)[0] if merge_inputs(mcmd) else ""
        ids, all_ok = record_ids(merged) if os.path.exists(merged) else ([], False)
        check(rc == 0 and ids == list(range(total)) and all_ok,
              f"the merge Job's command exits 0 with every id of the {total} once, in order",
              f"exit {rc}, ids {ids}: {tail(mlog)}")

        # A retried pod (same index, same command): its journal has it all.
        rc = run_logged(cmds[1], logs[1], 60)
        with open(logs[1], encoding="utf-8") as f:
            retried = f.read()
        done = len(list(range(1, total, n)))
        check(rc == 0 and f"({done} from the journal)" in retried,
              f"shard 1/{n} run again, as a retried pod: exit 0, its {done} tasks taken from the journal",
              f"exit {rc}: {tail(logs[1])}")
        rc = run_logged(mcmd, mlog, 60)
        check(rc == 0, "the merge after that retry still exits 0", f"exit {rc}: {tail(mlog)}")


# --- flags against the programs ---------------------------------------------

def help_flags(command):
    try:
        out = subprocess.run(command + ["--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", out.stdout + out.stderr))


def check_flags(argvs, unit_argv):
    known = {}
    for prog, command in (("worker", [WORKER_BIN]), ("coordinator", [COORD_BIN]),
                          ("coordinator merge", [COORD_BIN, "merge"])):
        if os.access(command[0], os.X_OK):
            known[prog] = help_flags(command)
    if not known:
        skip("flags in the manifests exist", f"no programs at {WORKER_BIN}, {COORD_BIN} (build first)")
        return
    if unit_argv:
        argvs = argvs + [("worker", unit_argv, os.path.relpath(UNIT, ROOT))]
    for prog, argv, where in argvs:
        if not known.get(prog):
            skip(f"{where}: flags of {prog}", "program not built")
            continue
        used = {a.split("=")[0] for a in argv[1:] if a.startswith("--")}
        unknown = sorted(used - known[prog])
        check(not unknown, f"{where}: every {prog} flag exists in `{prog} --help` ({len(used)} flags)",
              f"unknown: {unknown}")


# --- systemd, Slurm, the launcher --------------------------------------------

def unit_exec_argv():
    with open(UNIT, encoding="utf-8") as f:
        text = f.read()
    joined = re.sub(r"\\\n", " ", text)
    m = re.search(r"^ExecStart=(.*)$", joined, re.M)
    return text, (m.group(1).split() if m else [])


def check_systemd():
    text, argv = unit_exec_argv()
    # The package's path: packaging/install_unit.cmake rewrites exactly it.
    check(bool(argv) and argv[0] == "/usr/bin/taskfarm-worker",
          "the unit's ExecStart runs the installed worker, /usr/bin/taskfarm-worker")
    check("--forever" in argv, "the unit's worker runs --forever")
    check(re.search(r"^Restart=(always|on-failure)", text, re.M) is not None, "the unit has a restart policy")
    check(re.search(r"^EnvironmentFile=", text, re.M) is not None, "the unit reads an EnvironmentFile")
    check("--curve-secret" in argv and "--server-key" in argv, "the unit's worker uses CURVE keys")
    tool = shutil.which("systemd-analyze")
    if not tool:
        skip("systemd-analyze verify", "systemd-analyze not installed")
        return argv
    with tempfile.TemporaryDirectory() as tmp:
        # verify also checks that the program exists: point ExecStart at the
        # built worker (or any executable) instead of /usr/bin/taskfarm-worker.
        exe = WORKER_BIN if os.access(WORKER_BIN, os.X_OK) else "/bin/true"
        unit = os.path.join(tmp, os.path.basename(UNIT))
        with open(unit, "w", encoding="utf-8") as f:
            if argv:
                text = re.sub(r"^ExecStart=" + re.escape(argv[0]), "ExecStart=" + exe, text, count=1, flags=re.M)
            f.write(text)
        r = subprocess.run([tool, "verify", "--man=no", unit], capture_output=True, text=True, timeout=60)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0 and re.search(r"[Ff]ailed to (connect|initialize|set up)|not been booted", out):
            skip("systemd-analyze verify", f"cannot run here: {out.splitlines()[0]}")
        else:
            check(r.returncode == 0 and not out, "systemd-analyze verify accepts the unit", out)
    return argv


def check_scripts():
    rel = os.path.relpath(LAUNCHER, ROOT)
    with open(LAUNCHER, encoding="utf-8") as f:
        source = f.read()
    try:
        compile(source, LAUNCHER, "exec")
        check(True, f"{rel} compiles (Python)")
    except SyntaxError as e:
        check(False, f"{rel} compiles (Python)", str(e))
    for path in (SBATCH, SHARDS_SBATCH):
        rel = os.path.relpath(path, ROOT)
        r = subprocess.run(["bash", "-n", path], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"bash -n {rel}", r.stderr.strip())
        if shutil.which("shellcheck"):
            r = subprocess.run(["shellcheck", "-S", "warning", path], capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, f"shellcheck -S warning {rel}", r.stdout.strip()[:2000])
        else:
            skip(f"shellcheck {rel}", "shellcheck not installed")
    with open(SBATCH, encoding="utf-8") as f:
        text = f.read()
    check(re.search(r"^srun\b.*|^\s+srun\b", text, re.M) is not None and "--connect" in text,
          "the batch script starts workers with srun ... --connect")
    check(re.search(r"^#SBATCH ", text, re.M) is not None, "the batch script has #SBATCH directives")


def main():
    docs, argvs = check_kubernetes()
    shard_argvs, found = check_shards(docs) if docs else ([], None)
    if found:
        run_shards(docs, found)
    argvs += shard_argvs
    unit_argv = check_systemd()
    check_scripts()
    check_flags(argvs, unit_argv)
    print(f"deploy_manifests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
