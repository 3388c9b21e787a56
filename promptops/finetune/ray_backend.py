"""The ``ray`` fine-tune backend: the worker runs as a Ray job on a cluster (the only module importing Ray).

``ray.address`` in promptops.yaml is the cluster's job-submission address (what
``ray job submit --address`` takes: ``http://HOST:8265``). Without it a local Ray is started on
demand (``ray start --head --block`` in its own session, ``ray.local_cpus`` CPUs, a cluster that
outlives the command; :func:`stop_local` ends it and nothing else) and its address and pid kept in
``<state>/ray.json``.

The job's entrypoint is the same worker as the local backend's (``python -m promptops.finetune.worker
JOB_ID``, under ``accelerate launch`` with N processes for ``processes``/``gpus`` N > 1), with the resources of ``metrics["resources"]`` (``entrypoint_num_cpus``,
``entrypoint_num_gpus``, ``entrypoint_memory``); it writes progress, heartbeat, loss curve and metrics
into the job record itself, so the database must be reachable from the cluster (a shared
``database_url``). Before submitting, the cluster's alive nodes are asked for those resources: when no
node has them the job fails at once with that cause instead of waiting in Ray's queue. The record
keeps ``metrics["ray"]`` (address, job id, node id); a Ray job that ended while the record says
running (a killed worker, a lost node) marks the job failed with Ray's message.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlparse

from ..config import Config
from .backends import JobError, now, worker_env
from .distributed import launch_env, worker_argv, world_size

PASS_ENV_PREFIXES = ("PROMPTOPS_", "HF_", "TRANSFORMERS_")
PASS_ENV = ("PYTHONPATH",)
START_TIMEOUT_S = 180.0


def require() -> Any:
    """The ``ray.job_submission`` module, or a JobError with the install hint."""
    try:
        from ray import job_submission
    except ImportError:
        raise JobError("the ray fine-tune backend needs Ray, which is not installed",
                        hint='pip install "promptops[ray]" (or set finetune.backend: local)') from None
    return job_submission


def _token_auth_like_the_ray_cli() -> None:
    """Send the cluster token the way ``ray job submit`` does: with ``RAY_AUTH_MODE`` unset and a
    token on this machine (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN``), token authentication is on
    (a local ``ray start`` enables it whenever a token exists). Ray keeps that helper private: a Ray
    without it leaves the setting to ``RAY_AUTH_MODE``."""
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return
    try:
        from ray._private.authentication import authentication_token_setup as auth
    except ImportError:  # pragma: no cover - another Ray version
        return
    import logging

    quiet = logging.getLogger(auth.__name__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its "token authentication is enabled" notice
    try:
        auth.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    except Exception:  # noqa: BLE001 - no token support: the request says what is missing
        pass
    finally:
        quiet.setLevel(level)


def client(address: str) -> Any:
    js = require()
    _token_auth_like_the_ray_cli()
    try:
        return js.JobSubmissionClient(address)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError, RuntimeError depending on the cause
        raise JobError(f"cannot reach the Ray cluster at {address}: {type(exc).__name__}: {exc}",
                        where="promptops.yaml ray.address",
                        hint="start it (ray start --head) or fix ray.address; unset it for a local Ray") from None


def _state_file(config: Config) -> Any:
    return config.state_path / "ray.json"


def address(config: Config) -> str:
    """The job-submission address: ``ray.address``, else a local Ray (started now if none answers)."""
    if config.ray.address:
        return config.ray.address
    saved = _state_file(config)
    if saved.is_file():
        addr = json.loads(saved.read_text()).get("address")
        if addr and _answers(addr):
            return addr
    return start_local(config)


def _answers(addr: str) -> bool:
    try:
        client(addr)
        return True
    except Exception:  # noqa: BLE001
        return False


def _has_a_node(addr: str) -> bool:
    try:
        return bool(node_resources(addr))
    except JobError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local(config: Config) -> str:
    """A local Ray head on this machine (dashboard on loopback), started as ``ray start --head --block``
    in its own session: it outlives the command, and :func:`stop_local` (SIGTERM to that one process,
    which stops every Ray process it started) ends it without touching any other Ray on the machine.
    Returns its job-submission address; ``<state>/ray.json`` keeps the address and the pid."""
    require()
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    if not ray_cli:
        raise JobError("the ray command is not on PATH", hint='pip install "promptops[ray]"')
    port, dash = _free_port(), _free_port()
    cmd = [ray_cli, "start", "--head", "--block", f"--port={port}", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={dash}", "--disable-usage-stats"]
    if config.ray.local_cpus:
        cmd.append(f"--num-cpus={config.ray.local_cpus}")
    config.state_path.mkdir(parents=True, exist_ok=True)
    log = config.state_path / "ray-local.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    addr = f"http://127.0.0.1:{dash}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (_answers(addr) and _has_a_node(addr)):  # the job server answers before the node is listed
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip()[-400:]
            raise JobError(f"could not start a local Ray (exit {proc.returncode}): {tail}", where=str(log),
                           hint="set ray.address to a running cluster")
        if time.monotonic() > deadline:
            _stop_pid(proc.pid)
            raise JobError(f"the local Ray started but its job server at {addr} does not answer", where=str(log))
        time.sleep(0.5)
    _state_file(config).write_text(json.dumps({"address": addr, "gcs_port": port, "pid": proc.pid}))
    return addr


def stop_local(config: Config, timeout_s: float = 60.0) -> bool:
    """Stop the local Ray :func:`start_local` started for this project (True when there was one)."""
    saved = _state_file(config)
    if not saved.is_file():
        return False
    state = json.loads(saved.read_text())
    saved.unlink()
    stopped = bool(state.get("pid")) and _stop_pid(int(state["pid"]), timeout_s)
    _forget_address(state.get("gcs_port"))
    return stopped


def _forget_address(gcs_port: int | None) -> None:
    """Remove Ray's "current cluster" file when it names the stopped cluster (as ``ray stop`` does),
    so a later ``ray.init()`` on this machine starts its own instead of looking for a dead one."""
    try:
        from ray._common.utils import get_ray_address_file
    except ImportError:  # pragma: no cover - another Ray version
        return
    path = get_ray_address_file(None)
    try:
        with open(path, encoding="utf-8") as f:
            if gcs_port and f.read().strip().endswith(f":{gcs_port}"):
                os.remove(path)
    except OSError:
        pass


def _stop_pid(pid: int, timeout_s: float = 60.0) -> bool:
    """SIGTERM to the ``ray start --block`` process (it stops what it started), SIGKILL after ``timeout_s``."""
    import signal

    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"ray" not in f.read():  # the pid was reused by something else
                return False
    except OSError:
        pass  # no /proc, or already gone: the signal says
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        except ChildProcessError:  # started by another command: wait for it to disappear
            done = 0 if _alive(pid) else pid
        if done:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return True


def _is_loopback(addr: str) -> bool:
    host = urlparse(addr if "://" in addr else "http://" + addr).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1", socket.gethostname())


def fits(nodes: list[dict[str, float]], want: dict[str, float]) -> bool:
    """Whether one node's total resources cover ``want`` (Ray's names: CPU, GPU, memory in bytes)."""
    return any(all(node.get(k, 0.0) >= v for k, v in want.items() if v) for node in nodes)


def node_resources(addr: str) -> list[dict[str, float]]:
    """The total resources of each alive node of the cluster at ``addr``."""
    require()
    _token_auth_like_the_ray_cli()
    from ray.util.state import list_nodes

    try:
        nodes = list_nodes(address=addr, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
    except Exception as exc:  # noqa: BLE001
        raise JobError(f"cannot list the nodes of the Ray cluster at {addr}: {exc}",
                        where="promptops.yaml ray.address") from None
    return [dict(n.resources_total or {}) for n in nodes]


def wanted(resources: dict[str, Any] | None) -> dict[str, float]:
    r = resources or {}
    return {"CPU": float(r.get("cpus") or 1), "GPU": float(r.get("gpus") or 0),
            "memory": float(r.get("memory_gb") or 0) * 2**30}


def describe(want: dict[str, float]) -> str:
    parts = [f"{want['CPU']:g} CPU"]
    if want["GPU"]:
        parts.append(f"{want['GPU']:g} GPU")
    if want["memory"]:
        parts.append(f"{want['memory'] / 2**30:g} GiB memory")
    return ", ".join(parts)


class RayBackend:
    name = "ray"

    def preflight(self, config: Config) -> None:
        client(address(config))

    def launch(self, config: Config, job: Any, store: Any) -> Any:
        try:
            addr = address(config)
            c = client(addr)
        except Exception as exc:
            store.update_job(job.id, status="failed", finished_at=now(), error=str(exc))
            raise
        metrics = dict(job.metrics or {})
        want = wanted(metrics.get("resources"))
        nodes = node_resources(addr)
        if not fits(nodes, want):
            have = "; ".join(describe({"CPU": n.get("CPU", 0), "GPU": n.get("GPU", 0),
                                       "memory": n.get("memory", 0)}) for n in nodes) or "no alive node"
            cause = f"no node of the Ray cluster at {addr} has {describe(want)} (nodes: {have})"
            store.update_job(job.id, status="failed", finished_at=now(), error=cause)
            raise JobError(cause, hint="ask for less (--cpus/--gpus/--memory) or add a node that has it")
        env = {k: v for k, v in os.environ.items() if k.startswith(PASS_ENV_PREFIXES) or k in PASS_ENV}
        env.update(worker_env(config))
        python = sys.executable if _is_loopback(addr) else "python"
        resumes = int(metrics.get("resumes", 0))
        submission = f"promptops-{job.id}" + (f"-r{resumes}" if resumes else "")
        try:
            processes = world_size(metrics.get("resources"))
            argv = worker_argv(job.id, processes, python)  # under accelerate launch for N > 1
            if processes > 1 and want["CPU"] and not env.get("OMP_NUM_THREADS"):
                env.update(launch_env(processes, want["CPU"]))
            ray_id = c.submit_job(entrypoint=shlex.join(argv),
                                  submission_id=submission, runtime_env={"env_vars": env},
                                  entrypoint_num_cpus=want["CPU"], entrypoint_num_gpus=want["GPU"] or None,
                                  entrypoint_memory=int(want["memory"]) or None,
                                  metadata={"promptops_job": job.id, "prompt": job.prompt})
        except Exception as exc:  # noqa: BLE001
            cause = f"the Ray cluster at {addr} refused the job: {exc}"
            store.update_job(job.id, status="failed", finished_at=now(), error=cause)
            raise JobError(cause) from None
        metrics.update(backend="ray", host=None, ray={"address": addr, "job_id": ray_id, "node_id": None})
        return store.update_job(job.id, pid=None, heartbeat_at=now(), metrics=metrics)

    def _info(self, job: Any) -> Any:
        r = (job.metrics or {}).get("ray") or {}
        if not r.get("job_id"):
            return None
        try:
            return client(r["address"]).get_job_info(r["job_id"])
        except Exception:  # noqa: BLE001 - cluster unreachable: the heartbeat decides
            return None

    def dead_cause(self, config: Config, job: Any, store: Any) -> str | None:
        info = self._info(job)
        if info is None:
            return None
        r = dict((job.metrics or {}).get("ray") or {})
        if info.driver_node_id and r.get("node_id") != info.driver_node_id:
            r["node_id"] = info.driver_node_id
            store.update_job(job.id, metrics={**(store.get_job(job.id).metrics or {}), "ray": r})
        status = str(getattr(info.status, "value", info.status))
        if status in ("PENDING", "RUNNING"):
            return None
        # the worker writes its final status before it exits: read the record again
        if store.get_job(job.id).status not in ("queued", "running"):
            return None
        cause = f"the Ray job {r.get('job_id')} ended {status}: {info.message or 'no message'}"
        try:
            tail = [ln for ln in client(r["address"]).get_job_logs(r["job_id"]).splitlines() if ln.strip()][-3:]
        except Exception:  # noqa: BLE001
            tail = []
        return cause + ("; log ends: " + " | ".join(tail) if tail else "")

    def cancel(self, config: Config, job: Any, store: Any) -> None:
        r = (job.metrics or {}).get("ray") or {}
        if r.get("job_id"):
            try:
                client(r["address"]).stop_job(r["job_id"])  # SIGTERM: the worker checkpoints and exits
            except Exception as exc:  # noqa: BLE001 - the record already says cancelled; the worker reads it
                print(f"note: Ray did not stop job {r['job_id']}: {exc}", file=sys.stderr)
