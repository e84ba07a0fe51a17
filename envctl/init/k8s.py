"""What ``init --k8s`` writes: a Kubernetes Indexed Job that runs the suite in N shards, a pod
each, every pod with a Docker engine of its own in a native sidecar (docs/configuration.md,
"Kubernetes").

The manifest is a pure function of the number of shards (``job_manifest``), written as YAML
text by hand: envctl depends on no YAML library, and a template keeps the comments that say why
each part is there. The exit-code lists of its ``podFailurePolicy`` are made from
``envctl.errors.ExitCode`` and pytest's codes (``envctl.runs.state.PYTEST_STATES``), never
spelled here a second time.

Paths that must be the same in two containers: compose's bind mounts and envctl's own mounts
(its plugin, a run's input and exchange folders) name paths that the sidecar's engine resolves in
its own filesystem, so the project, envctl's virtual environment and the log dir are volumes
mounted at the same places in the envctl container and in the engine's.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from envctl.errors import ExitCode, UsageError
from envctl.init.write import Written, write_new
from envctl.runs.state import PYTEST_STATES

MANIFEST = Path("k8s") / "envctl-job.yaml"
DEFAULT_SHARDS = 4
RETRIES = 2  # backoffLimitPerIndex: attempts after the first, for each index on its own
# Never resolves (.example is reserved): a manifest applied unchanged fails to pull, saying so.
IMAGE = "registry.example/your-project/envctl-tests:latest"
DIND_IMAGE = "docker:dind"
JOB = "envctl-tests"
RESULTS = "envctl-results"  # the shared volume's claim, and the pod that holds it for the merge
MERGE = "envctl-merge"  # the ConfigMap with the merge script
CONTAINER = "envctl"  # the container whose exit code the podFailurePolicy reads
SOURCE_DIR = "/src"  # the project, in the image
VENV_DIR = "/opt/envctl"  # envctl's virtual environment, in the image
RESULTS_DIR = "/results"
SCRIPT_DIR = "/envctl-k8s"
SOCKET = "unix:///var/run/dind/docker.sock"

# pytest decided: the tests' own result. A retry would repeat it, or hide a flaky test behind
# a pass; the index fails at once.
TEST_RESULTS = tuple(sorted(code for code in PYTEST_STATES if code))
# The same answer on every attempt: the suite hit its own limits (a retry with the same limits
# ends the same way, and a timeout costs its whole length again), or the image and its settings
# cannot work (every attempt runs the same image).
SAME_ON_RETRY = (ExitCode.USAGE, ExitCode.CONFIG, ExitCode.COMPOSE_UNAVAILABLE, ExitCode.COMPOSE_FILE,
                 ExitCode.TIMED_OUT, ExitCode.OOM_KILLED)
FAIL_INDEX = tuple(sorted((*TEST_RESULTS, *map(int, SAME_ON_RETRY))))
# What is around the tests failed (docs/run-states.md: never a test result): the sidecar's
# engine, a service that did not come up or died under the tests, the test container. Counted
# toward the index's retries. Any other code (a signal, 70) counts too: Kubernetes' default.
COUNT = tuple(sorted(map(int, (ExitCode.ENGINE_UNAVAILABLE, ExitCode.ENVIRONMENT_FAILED,
                               ExitCode.INFRA_ERROR, ExitCode.LOST, ExitCode.ENV_BROKEN))))


MAX_SHARDS = 1000  # indexes: Kubernetes takes up to 100,000 with backoffLimitPerIndex; more is a typo


def check_shards(shards: int) -> int:
    """``shards`` if a Job can have that many indexes; a UsageError otherwise."""
    if shards < 1:
        raise UsageError(f"--shards {shards}: a Job needs at least one shard", hint="e.g. --shards 4")
    if shards > MAX_SHARDS:
        raise UsageError(f"--shards {shards}: at most {MAX_SHARDS} (a pod and an engine each)",
                         hint="Kubernetes allows more indexes, but each shard costs a Docker engine")
    return shards


def code_names(codes: tuple[int, ...]) -> str:
    """``1 failed, ..., 10 USAGE``: pytest's by the state it gives, envctl's by name, as comment
    lines of the rules in the manifest."""
    names = [f"{code}\N{NO-BREAK SPACE}{PYTEST_STATES[code].value}" if code in PYTEST_STATES
             else f"{code}\N{NO-BREAK SPACE}{ExitCode(code).name}" for code in codes]
    lines = textwrap.wrap(", ".join(names), 90, break_on_hyphens=False)
    return "\n      # ".join(lines).replace("\N{NO-BREAK SPACE}", " ")  # a code and its name stay together


def _flow(codes: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, codes)) + "]"


def _header(shards: int) -> str:
    return f"""\
# envctl: the test suite on Kubernetes in {shards} shards, an Indexed Job with a pod per shard.
# Written by `envctl init --k8s --shards {shards}`. To run it, wait for it, merge the shards and
# copy the results out: the "Kubernetes" section of envctl's docs/configuration.md. It needs
# Kubernetes 1.33 or newer (native sidecars, backoffLimitPerIndex; beta and on in 1.29-1.32).
#
# THE IMAGE IS A PLACEHOLDER: {IMAGE}
# is used three times below; replace it with an image you build and push, which holds
#   - your project at {SOURCE_DIR} (the folder of your compose file and envctl's settings);
#   - envctl in a virtual environment at {VENV_DIR};
#   - the docker CLI with its compose (2.20 or newer) and buildx plugins.
# For example, with envctl's wheel (`python3 -m pip wheel --no-deps -w dist .` in its checkout):
#   FROM python:3.12-slim
#   COPY --from=docker:cli /usr/local/bin/docker /usr/local/bin/docker
#   COPY --from=docker:cli /usr/local/libexec/docker/cli-plugins/ /usr/local/libexec/docker/cli-plugins/
#   COPY envctl-*.whl /tmp/
#   RUN python3 -m venv {VENV_DIR} && {VENV_DIR}/bin/pip install /tmp/envctl-*.whl
#   COPY . {SOURCE_DIR}
#
# The one privilege: the Docker engine in each pod's `dind` sidecar runs privileged (an engine
# makes the namespaces, cgroups, mounts and network rules of the test containers). Nothing else
# here is privileged, and no pod gets a service account token.
"""


def _volume_and_script(shards: int) -> str:
    return f"""\
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {RESULTS}
spec:
  # Each pod writes its runs into index-K/ here, and the `{RESULTS}` pod merges them. Pods on
  # several nodes share it: ReadWriteMany (NFS, CephFS, EFS, Filestore...), with file locks and
  # without root squashing (envctl runs as root in its container). Name such a class in
  # storageClassName if the cluster's default is not one.
  accessModes: [ReadWriteMany]
  resources:
    requests:
      storage: 5Gi
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {MERGE}
data:
  # kubectl exec {RESULTS} -- sh {SCRIPT_DIR}/merge.sh: exits with the merged suite's code.
  merge.sh: |
    # `envctl report merge` over the last run of each index: an index that was retried holds a
    # run per attempt, and its last one (run ids sort by start time) is its result. An index
    # with no run is a missing shard, which the merge reports: never a pass.
    runs=""
    i=0
    while [ "$i" -lt {shards} ]; do
      last=$(ls -1d "{RESULTS_DIR}/index-$i"/[0-9]*-[0-9]*-*/ 2>/dev/null | LC_ALL=C sort | tail -n 1)
      if [ -n "$last" ]; then runs="$runs $last"; else echo "index $i left no run" >&2; fi
      i=$((i + 1))
    done
    mkdir -p {RESULTS_DIR}/merged
    {VENV_DIR}/bin/envctl report merge $runs --junit-out {RESULTS_DIR}/merged/junit.xml \\
      --durations-out {RESULTS_DIR}/merged/durations.json > {RESULTS_DIR}/merged/report.md
    code=$?
    cat {RESULTS_DIR}/merged/report.md
    exit "$code"
"""


def _job(shards: int, image: str) -> str:
    return f"""\
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {JOB}
spec:
  # JOB_COMPLETION_INDEX 0..{shards - 1} in each pod; `--shard auto/{shards}` makes index K shard K+1.
  completionMode: Indexed
  completions: {shards}
  parallelism: {shards}
  # Each index is retried on its own, {RETRIES} more attempts at most; a failed index never stops the
  # others (maxFailedIndexes is never exceeded): the merge needs every shard's report.
  backoffLimitPerIndex: {RETRIES}
  maxFailedIndexes: {shards}
  podFailurePolicy:
    rules:
      # A pod preempted, evicted or drained: not the tests' doing; the index runs again, uncounted.
      - action: Ignore
        onPodConditions:
          - type: DisruptionTarget
            status: "True"
      # A test result, or an answer a retry would repeat: the index fails at once.
      # {code_names(FAIL_INDEX)}
      - action: FailIndex
        onExitCodes:
          containerName: {CONTAINER}
          operator: In
          values: {_flow(FAIL_INDEX)}
      # An infrastructure failure: counted toward the index's retries.
      # {code_names(COUNT)}
      - action: Count
        onExitCodes:
          containerName: {CONTAINER}
          operator: In
          values: {_flow(COUNT)}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: envctl
    spec:
      restartPolicy: Never
      # The code under test gets no cluster credentials, and no service variables: a Service
      # named envctl-* would become ENVCTL_* variables, which envctl reads as its settings.
      automountServiceAccountToken: false
      enableServiceLinks: false
      # envctl's stop (interrupt, terminate, kill: 10 + 5 + 5 s) and its record need more than
      # the default 30 s: a pod deleted by hand would otherwise end 137 (counted as infra).
      terminationGracePeriodSeconds: 90
      initContainers:
        # The project and envctl, copied where the engine sees them at the same paths.
        - name: stage
          image: {image}
          command: [sh, -c, "cp -a {SOURCE_DIR}/. /mnt/source/ && cp -a {VENV_DIR}/. /mnt/envctl/"]
          volumeMounts:
            - {{name: source, mountPath: /mnt/source}}
            - {{name: envctl, mountPath: /mnt/envctl}}
        # The Docker engine: a native sidecar (an init container that keeps running), up before
        # envctl starts and stopped after it ends. Its socket only: the image's entrypoint would
        # add a TCP port unless dockerd is named.
        - name: dind
          image: {DIND_IMAGE}
          restartPolicy: Always
          args: [dockerd, "--host={SOCKET}"]
          securityContext:
            privileged: true  # the one privilege (see the top)
          # envctl starts once the engine answers.
          startupProbe:
            exec:
              command: [docker, "--host={SOCKET}", version]
            periodSeconds: 2
            timeoutSeconds: 5
            failureThreshold: 90
          # The services and the test container run in this engine: size it for them.
          resources:
            requests:
              cpu: "2"
              memory: 4Gi
          volumeMounts:
            - {{name: dind-socket, mountPath: /var/run/dind}}
            # Not the container's own overlay filesystem, where an engine cannot keep its layers.
            - {{name: dind-storage, mountPath: /var/lib/docker}}
            - {{name: source, mountPath: {SOURCE_DIR}}}
            - {{name: envctl, mountPath: {VENV_DIR}, readOnly: true}}
            - {{name: results, mountPath: {RESULTS_DIR}}}
      containers:
        # In the foreground: envctl's exit code is the pod's, which the podFailurePolicy reads.
        - name: {CONTAINER}
          image: {image}
          workingDir: {SOURCE_DIR}
          command: [{VENV_DIR}/bin/envctl, test, --shard, auto/{shards}]
          env:
            - name: SHARD_INDEX
              valueFrom:
                fieldRef:
                  fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"
            # Each index's runs in a folder of its own on the shared volume.
            - name: ENVCTL_LOG_DIR
              value: {RESULTS_DIR}/index-$(SHARD_INDEX)
            - name: DOCKER_HOST
              value: {SOCKET}
          securityContext:
            allowPrivilegeEscalation: false
          volumeMounts:
            - {{name: dind-socket, mountPath: /var/run/dind}}
            - {{name: source, mountPath: {SOURCE_DIR}}}
            - {{name: envctl, mountPath: {VENV_DIR}}}
            - {{name: results, mountPath: {RESULTS_DIR}}}
      volumes:
        - {{name: dind-socket, emptyDir: {{}}}}
        - {{name: dind-storage, emptyDir: {{}}}}
        - {{name: source, emptyDir: {{}}}}
        - {{name: envctl, emptyDir: {{}}}}
        - {{name: results, persistentVolumeClaim: {{claimName: {RESULTS}}}}}
"""


def _results_pod(image: str) -> str:
    return f"""\
---
# Holds the shared volume once the Job has ended: `kubectl exec` runs the merge in it, and
# `kubectl cp` copies the results out of it (both need a running container).
apiVersion: v1
kind: Pod
metadata:
  name: {RESULTS}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: 5
  containers:
    - name: {CONTAINER}
      image: {image}
      workingDir: {SOURCE_DIR}
      command: [sleep, infinity]
      env:
        # The merge's history of the suite, beside its report.
        - name: ENVCTL_LOG_DIR
          value: {RESULTS_DIR}/merged
      securityContext:
        allowPrivilegeEscalation: false
      volumeMounts:
        - {{name: results, mountPath: {RESULTS_DIR}}}
        - {{name: merge, mountPath: {SCRIPT_DIR}, readOnly: true}}
  volumes:
    - {{name: results, persistentVolumeClaim: {{claimName: {RESULTS}}}}}
    - {{name: merge, configMap: {{name: {MERGE}}}}}
"""


def job_manifest(shards: int) -> str:
    """The manifest for ``shards`` shards: the shared volume, the merge script, the Indexed Job
    and the pod that holds the results, as YAML documents."""
    check_shards(shards)
    image = json.dumps(IMAGE)  # a JSON string is a YAML one: a name you put there stays one
    return _header(shards) + _volume_and_script(shards) + _job(shards, image) + _results_pod(image)


def write_job(project_dir: Path, shards: int) -> Written:
    """``k8s/envctl-job.yaml``, unless it is there (or a link is)."""
    path = project_dir / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    written = write_new(path, job_manifest(shards))
    if not written.created:
        return written
    return Written(path, created=True,
                   why=f"an Indexed Job of {shards} shards; put your image's name in it, then "
                       f"kubectl apply -f {MANIFEST.as_posix()}")
