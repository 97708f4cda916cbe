#!/usr/bin/env bash
# Several hosts on one machine: network namespaces joined by veth pairs to a
# bridge (its own namespace): a coordinator host, two worker hosts and a web
# server host. Runs the real binaries with CURVE keys across them.
#
#   tests/cluster/cluster_netns_test.sh BIN_DIR SCENARIO
# Scenarios: basic, unknown-key, link-down, lossy, join-mid-run, refuse-insecure.
# Exits 77 (skipped) when namespaces cannot be made (not root).
set -uo pipefail
BIN="${1:?bin dir}"
SCENARIO="${2:?scenario}"
[[ $(id -u) -eq 0 ]] || { echo "SKIP: network namespaces need root"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 (ip) is not installed"; exit 77; }

tag="tf$$"
NS_SW="${tag}-sw" NS_C="${tag}-c" NS_W1="${tag}-w1" NS_W2="${tag}-w2" NS_WEB="${tag}-web"
declare -A ADDR=([$NS_C]=10.77.0.1 [$NS_W1]=10.77.0.2 [$NS_W2]=10.77.0.3 [$NS_WEB]=10.77.0.4)
WORK="$(mktemp -d /tmp/taskfarm-netns-XXXXXX)"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for ns in "$NS_C" "$NS_W1" "$NS_W2" "$NS_WEB" "$NS_SW"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- coordinator output:"; cat "$WORK/coord.out" "$WORK/coord.err" 2>/dev/null | tail -40; exit 1; }

if ! ip netns add "$NS_SW" 2>"$WORK/err"; then
  echo "SKIP: cannot create a network namespace: $(cat "$WORK/err")"; exit 77
fi
ip -n "$NS_SW" link add br0 type bridge
ip -n "$NS_SW" link set br0 up
i=0
for ns in "$NS_C" "$NS_W1" "$NS_W2" "$NS_WEB"; do
  i=$((i + 1))
  ip netns add "$ns"
  ip link add "v${tag}h$i" netns "$ns" type veth peer name "v${tag}s$i" netns "$NS_SW"
  ip -n "$ns" link set "v${tag}h$i" name eth0
  ip -n "$ns" addr add "${ADDR[$ns]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$NS_SW" link set "v${tag}s$i" master br0
  ip -n "$NS_SW" link set "v${tag}s$i" up
done

# Keys: the coordinator's, one per worker host (authorized), and a stranger's.
"$BIN/coordinator" keygen "$WORK/coord" >/dev/null
mkdir -p "$WORK/authorized"
for k in w1 w2 stranger; do "$BIN/coordinator" keygen "$WORK/$k" >/dev/null; done
cp "$WORK/w1.pub" "$WORK/w2.pub" "$WORK/authorized/"

# The web host serves the pages.
ip netns exec "$NS_WEB" "$BIN/testserver" --address 10.77.0.4 --port 8080 >"$WORK/web.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$WORK/web.out" && break; sleep 0.1; done
grep -q listening "$WORK/web.out" || fail "web server did not start"
ip netns exec "$NS_W1" curl -sf -m 5 -o /dev/null http://10.77.0.4:8080/json || fail "host1 cannot reach the web host"

ENDPOINT="tcp://10.77.0.1:5555"
worker() {  # worker NS NAME KEY [extra args]
  local ns="$1" name="$2" key="$3"; shift 3
  ip netns exec "$ns" "$BIN/worker" --connect "$ENDPOINT" --name "$name" --curve-secret "$WORK/$key.key" \
    --server-key "$WORK/coord.pub" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
coordinator() {  # coordinator TASKFILE [extra args]; runs in the background
  local tasks="$1"; shift
  ip netns exec "$NS_C" "$BIN/coordinator" --workers 0 --bind "$ENDPOINT" --curve-secret "$WORK/coord.key" \
    --authorized-keys "$WORK/authorized" --tasks "$tasks" --output "$WORK/R.jsonl" "$@" \
    >"$WORK/coord.out" 2>"$WORK/coord.err" &
  COORD=$!
  PIDS+=($COORD)
}
wait_coordinator() {  # wait_coordinator SECONDS -> sets RC
  local deadline=$((SECONDS + $1))
  while kill -0 "$COORD" 2>/dev/null; do
    ((SECONDS > deadline)) && { kill -9 "$COORD"; fail "coordinator did not finish in $1 s"; }
    sleep 0.1
  done
  wait "$COORD"; RC=$?
}
# check_records N: every id 0..N-1 exactly once, all ok; prints workers used.
check_records() {
  /usr/bin/python3 - "$WORK/R.jsonl" "$1" <<'EOF'
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
ids = collections.Counter(r["id"] for r in recs)
assert sorted(ids) == list(range(n)), f"ids are not 0..{n-1}: {len(ids)} distinct"
assert all(c == 1 for c in ids.values()), "an id was recorded twice"
bad = [r for r in recs if not r["ok"]]
assert not bad, f"failed records: {bad[:3]}"
print(" ".join(sorted(set(r["worker"] for r in recs))))
EOF
}
tasks_file() {  # tasks_file N_URL N_CPU DELAY_MS
  local f="$WORK/tasks.txt"; : >"$f"
  for i in $(seq "$1"); do echo "url http://10.77.0.4:8080/page/$(( (i % 3) + 1 ))?delay=$3" >>"$f"; done
  for i in $(seq "$2"); do echo "cpu primes 200000" >>"$f"; done
  echo "$f"
}

case "$SCENARIO" in
  basic)
    f=$(tasks_file 60 20 50)
    coordinator "$f" --min-workers 2 --wait-workers 30
    worker "$NS_W1" host1 w1
    worker "$NS_W2" host2 w2
    wait_coordinator 90
    [[ $RC -eq 0 ]] || fail "exit $RC"
    used=$(check_records 80) || fail "records: $used"
    [[ "$used" == *host1* && "$used" == *host2* ]] || fail "both worker hosts must do work, got: $used"
    ;;
  unknown-key)
    f=$(tasks_file 30 0 20)
    coordinator "$f" --min-workers 1 --wait-workers 30
    worker "$NS_W2" intruder stranger
    sleep 1
    worker "$NS_W1" host1 w1
    wait_coordinator 60
    [[ $RC -eq 0 ]] || fail "exit $RC"
    used=$(check_records 30) || fail "records: $used"
    [[ "$used" != *intruder* ]] || fail "a worker with an unknown key ran tasks"
    n=$(grep -c "refused a worker" "$WORK/coord.err")
    [[ $n -eq 1 ]] || fail "expected the refusal to be reported once, got $n times"
    ;;
  link-down)
    f=$(tasks_file 400 0 100)
    coordinator "$f" --min-workers 2 --wait-workers 30 --heartbeat-timeout 2 --concurrency 4
    worker "$NS_W1" host1 w1 --concurrency 4
    worker "$NS_W2" host2 w2 --concurrency 4
    sleep 1.5
    ip -n "$NS_W2" link set eth0 down      # host2 vanishes mid-run
    sleep 3
    ip -n "$NS_W2" link set eth0 up        # and comes back
    wait_coordinator 120
    [[ $RC -eq 0 ]] || fail "exit $RC"
    used=$(check_records 400) || fail "records: $used"
    grep -q "stopped answering" "$WORK/coord.out" || fail "host2 was never declared lost"
    # It re-registered and took tasks again: host2 appears twice in the
    # per-worker table, once gone and once serving.
    n=$(grep -c "^host2 " "$WORK/coord.out")
    [[ $n -ge 2 ]] || fail "host2 did not re-register after its link came back (rows: $n)"
    ;;
  lossy)
    # 5% of the packets on host1's link dropped, both ways, for 30 s of a
    # steady run across both hosts (nftables; these kernels have no netem).
    # Packets to host1 are dropped by its input hook. Packets from host1 are
    # dropped where the wire delivers them, at its switch port's ingress: a
    # drop in host1's own output hook is reported back to its TCP, which
    # sends the segment again at once, as if the queue had been full, so it
    # is no loss on the link (tried: 399 such drops, 2 retransmissions).
    # TCP recovers a lost segment in about a round trip when more follow it
    # (fast retransmit, tail loss probes) and otherwise after its RTO (200 ms
    # at least, doubling each time it is lost again), so a message can stall
    # 1.4 s (three drops in a row, one segment in 8,000) or 3 s (four, one
    # in 160,000). The default --heartbeat-timeout, 5 s, is used: after a
    # heartbeat interval (1 s) it leaves 4 s, which only five drops in a row
    # exceed (6.2 s, one segment in 3 million).
    command -v nft >/dev/null || { echo "SKIP: nftables (nft) is not installed"; exit 77; }
    f=$(tasks_file 2400 0 50)
    # --rate: the run's length (40 s) does not depend on the loss.
    coordinator "$f" --min-workers 2 --wait-workers 30 --rate 60/s --json "$WORK/run.json"
    worker "$NS_W1" host1 w1 --concurrency 4
    worker "$NS_W2" host2 w2 --concurrency 4
    # The run's clock (the records' start_ms) when the loss begins and ends.
    run_ms() {
      /usr/bin/python3 -c 'import json, sys
print(max([json.loads(l)["start_ms"] for l in open(sys.argv[1]) if l.strip()] or [-1]))' "$WORK/R.jsonl"
    }
    for _ in $(seq 100); do [[ -s "$WORK/R.jsonl" ]] && break; sleep 0.1; done
    [[ -s "$WORK/R.jsonl" ]] || fail "no task finished within 10 s"
    port="v${tag}s2"  # host1's end of its link, on the switch
    ip netns exec "$NS_W1" nft add table inet t
    ip netns exec "$NS_W1" nft add chain inet t in '{ type filter hook input priority 0; }'
    ip netns exec "$NS_W1" nft add rule inet t in numgen random mod 100 '<' 5 counter drop
    ip netns exec "$NS_SW" nft add table netdev t
    ip netns exec "$NS_SW" nft add chain netdev t in "{ type filter hook ingress device $port priority 0; }"
    ip netns exec "$NS_SW" nft add rule netdev t in numgen random mod 100 '<' 5 counter drop
    retrans() { ip netns exec "$1" nstat -az TcpRetransSegs | awk '/TcpRetransSegs/ {print $2}'; }
    r1=$(retrans "$NS_W1") rc=$(retrans "$NS_C")
    loss_from=$(run_ms)
    sleep 30
    dropped_in=$(ip netns exec "$NS_W1" nft list table inet t | grep -o 'packets [0-9]*' | awk '{print $2}')
    dropped_out=$(ip netns exec "$NS_SW" nft list table netdev t | grep -o 'packets [0-9]*' | awk '{print $2}')
    ip netns exec "$NS_W1" nft delete table inet t
    ip netns exec "$NS_SW" nft delete table netdev t
    r1=$(($(retrans "$NS_W1") - r1)) rc=$(($(retrans "$NS_C") - rc))
    loss_to=$(run_ms)
    wait_coordinator 120
    [[ $RC -eq 0 ]] || fail "exit $RC"
    used=$(check_records 2400) || fail "records: $used"
    [[ "$used" == "host1 host2" ]] || fail "expected exactly host1 and host2 to run tasks, got: $used"
    echo "dropped $dropped_in packets to host1 and $dropped_out from it; TCP retransmitted $r1 segments" \
      "from host1 and $rc from the coordinator"
    ((dropped_in > 50 && dropped_out > 50 && r1 > 10 && rc > 10)) || fail "the loss did not take"
    /usr/bin/python3 - "$WORK" "$loss_from" "$loss_to" <<'EOF' || fail "host1 under loss"
import json, sys
work, lo, hi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
run = json.load(open(work + "/run.json"))
# A worker lost and registered again is a second entry (under the same
# name, if the first had already left).
workers = sorted((w["name"], w["gone"]) for w in run["workers"])
assert workers == [("host1", None), ("host2", None)], f"workers: {workers}"
recs = [json.loads(l) for l in open(work + "/R.jsonl") if l.strip()]
lossy = sum(1 for r in recs if r["worker"] == "host1" and lo < r["start_ms"] < hi)
both = sum(1 for r in recs if lo < r["start_ms"] < hi)
assert lossy >= both // 4, f"host1 ran {lossy} of the {both} tasks started under loss"
print(f"host1 ran {lossy} of the {both} tasks started during {(hi - lo) / 1000:.1f} s of loss")
EOF
    for h in host1 host2; do
      ! grep -E "lost the coordinator|given this worker up" "$WORK/$h.log" || fail "$h gave the coordinator up"
      [[ $(grep -c "registered as" "$WORK/$h.log") -eq 1 ]] || fail "$h registered more than once"
    done
    ;;
  join-mid-run)
    f=$(tasks_file 150 0 100)
    coordinator "$f" --min-workers 1 --wait-workers 30 --concurrency 2
    worker "$NS_W1" host1 w1 --concurrency 2
    sleep 2
    worker "$NS_W2" latecomer w2 --concurrency 2
    wait_coordinator 120
    [[ $RC -eq 0 ]] || fail "exit $RC"
    used=$(check_records 150) || fail "records: $used"
    [[ "$used" == *latecomer* ]] || fail "the worker that joined mid-run took no task: $used"
    ;;
  refuse-insecure)
    f=$(tasks_file 1 0 0)
    ip netns exec "$NS_C" "$BIN/coordinator" --workers 0 --bind "$ENDPOINT" --tasks "$f" \
      >"$WORK/coord.out" 2>"$WORK/coord.err"
    RC=$?
    [[ $RC -eq 2 ]] || fail "binding $ENDPOINT without keys must be refused (exit 2), got $RC"
    grep -q "refusing to listen" "$WORK/coord.err" || fail "no clear refusal message"
    ;;
  *) echo "unknown scenario $SCENARIO"; exit 2 ;;
esac
echo "PASS: $SCENARIO"
