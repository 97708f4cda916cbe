# Running workers on other machines: the ssh launcher against a real sshd, and
# the deploy/ recipes (Kubernetes manifests, systemd unit, Slurm script).
# include() this from tests/CMakeLists.txt. Label: cluster. A test that cannot
# run here (not root, no sshd, no python3-yaml) prints SKIP and exits 77.
add_test(NAME ssh_launcher
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ssh_launcher_test.sh
          $<TARGET_FILE:worker> $<TARGET_FILE:coordinator>)
set_tests_properties(ssh_launcher PROPERTIES TIMEOUT 300 LABELS cluster SKIP_RETURN_CODE 77)

# Debian's python3 (with python3-yaml), not whatever python3 comes first in PATH.
add_test(NAME deploy_manifests
  COMMAND sh -c "if [ -x /usr/bin/python3 ]; then exec /usr/bin/python3 \"$@\"; else echo 'SKIP: /usr/bin/python3 missing'; exit 77; fi"
          deploy_manifests_test ${CMAKE_CURRENT_LIST_DIR}/deploy_manifests_test.py
          $<TARGET_FILE:worker> $<TARGET_FILE:coordinator>)
set_tests_properties(deploy_manifests PROPERTIES TIMEOUT 300 LABELS cluster SKIP_RETURN_CODE 77)

# The Slurm batch scripts on a throwaway one-node Slurm cluster (its own munged,
# slurmctld and slurmd on loopback). Needs root and Debian's slurm-wlm and
# munge, which scripts/setup installs (CI runs as root, so it runs there);
# skipped without them.
add_test(NAME slurm_sbatch
  COMMAND bash ${PROJECT_SOURCE_DIR}/deploy/slurm/check-with-local-slurm.sh $<TARGET_FILE_DIR:worker>)
set_tests_properties(slurm_sbatch PROPERTIES TIMEOUT 300 LABELS cluster SKIP_RETURN_CODE 77)
