"""``python -m ember.distributed.run``: torchrun's command line, launching the ranks with mpiexec.

    python -m ember.distributed.run --nproc-per-node 2 train.py --epochs 3

starts ``python -m ember run train.py --epochs 3`` once per rank under MPI's ``mpiexec``, each
with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
ROLE_RANK, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RUN_ID), so unmodified torch scripts run.

Several machines: MPI starts every rank from one place, so run the launcher once, on node 0,
with ``--hostfile`` (one host per line, node 0 first) or ``--hosts a,b``; a launcher started
with ``--node-rank`` above 0 (torchrun's habit of one launcher per node) has nothing to do and
says so. When a rank raises or dies, mpiexec ends the others and the launcher exits non-zero.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import uuid


def _mpiexec() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.path.exists(here) else shutil.which("mpiexec")
    if found is None:
        raise SystemExit("ember.distributed.run: mpiexec not found; pip install "
                         "'ember[distributed]' (mpi4py and the mpich wheel, which provides it)")
    return found


def _nproc(v: str) -> int:
    if v in ("auto", "cpu"):
        return os.cpu_count() or 1
    if v == "gpu":
        raise SystemExit("ember.distributed.run: --nproc-per-node gpu: ember runs on the CPU")
    try:
        n = int(v)
    except ValueError:
        raise SystemExit(f"ember.distributed.run: unsupported nproc_per_node value: {v}") from None
    if n < 1:
        raise SystemExit(f"ember.distributed.run: nproc_per_node must be positive, got {n}")
    return n


def _nnodes(v: str) -> int:
    lo, _, hi = v.partition(":")
    if hi and hi != lo:
        raise SystemExit(f"ember.distributed.run: elastic --nnodes {v} is not supported; give a "
                         "fixed number of nodes")
    return int(lo)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ember.distributed.run",
        description="torchrun's options; the ranks are MPI processes started by mpiexec")
    p.add_argument("--nproc-per-node", "--nproc_per_node", default="1", dest="nproc_per_node")
    p.add_argument("--nnodes", default="1")
    p.add_argument("--node-rank", "--node_rank", type=int, default=0, dest="node_rank")
    p.add_argument("--master-addr", "--master_addr", default="127.0.0.1", dest="master_addr")
    p.add_argument("--master-port", "--master_port", type=int, default=29500,
                   dest="master_port")
    p.add_argument("--standalone", action="store_true",
                   help="one node; as --nnodes 1 (the rendezvous is MPI's)")
    p.add_argument("--rdzv-backend", "--rdzv_backend", default=None, dest="rdzv_backend")
    p.add_argument("--rdzv-endpoint", "--rdzv_endpoint", default=None, dest="rdzv_endpoint")
    p.add_argument("--rdzv-id", "--rdzv_id", default=None, dest="rdzv_id")
    p.add_argument("--max-restarts", "--max_restarts", type=int, default=0, dest="max_restarts")
    p.add_argument("--hostfile", default=None,
                   help="ember: the nodes, one host per line, node 0 first (for --nnodes > 1)")
    p.add_argument("--hosts", default=None, help="ember: the nodes, comma-separated")
    p.add_argument("-m", "--module", action="store_true",
                   help="run the training script as a module (python -m)")
    p.add_argument("--no-python", "--no_python", action="store_true", dest="no_python",
                   help="run the training script as an executable, not through ember")
    p.add_argument("--dry-run", action="store_true", help="ember: print the mpiexec command")
    p.add_argument("training_script")
    p.add_argument("training_script_args", nargs=argparse.REMAINDER)
    return p


def _hosts(args, nnodes):
    if args.hostfile:
        with open(args.hostfile) as f:
            hosts = [ln.split()[0].split(":")[0] for ln in f
                     if ln.strip() and not ln.lstrip().startswith("#")]
    elif args.hosts:
        hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    else:
        hosts = []
    if nnodes > 1 and len(hosts) < nnodes:
        raise SystemExit(f"ember.distributed.run: --nnodes {nnodes} needs --hostfile or --hosts "
                         f"naming {nnodes} hosts (got {len(hosts)}); MPI starts every node's "
                         "ranks from this one launcher")
    return hosts[:nnodes]


def build_command(args) -> list[str]:
    """The mpiexec command line: one MPMD segment per rank, each with its own environment."""
    nproc = _nproc(args.nproc_per_node)
    nnodes = 1 if args.standalone else _nnodes(args.nnodes)
    hosts = _hosts(args, nnodes)
    world = nproc * nnodes
    run_id = args.rdzv_id or os.environ.get("TORCHELASTIC_RUN_ID") or uuid.uuid4().hex[:12]
    if args.no_python:
        prog = [args.training_script]
    elif args.module:
        # `python -m ember run` takes a path; a module goes through runpy after compat.install()
        code = ("import runpy, sys; from ember import compat; compat.install(); "
                "sys.argv[0] = sys.argv[1]; del sys.argv[1]; "
                "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")
        prog = [sys.executable, "-c", code, args.training_script]
    else:
        prog = [sys.executable, "-m", "ember", "run", args.training_script]
    prog += args.training_script_args
    cmd = [_mpiexec()]
    for rank in range(world):
        node, local = divmod(rank, nproc)
        env = {"RANK": rank, "LOCAL_RANK": local, "WORLD_SIZE": world,
               "LOCAL_WORLD_SIZE": nproc, "GROUP_RANK": node, "GROUP_WORLD_SIZE": nnodes,
               "ROLE_RANK": rank, "ROLE_WORLD_SIZE": world, "ROLE_NAME": "default",
               "MASTER_ADDR": args.master_addr, "MASTER_PORT": args.master_port,
               "TORCHELASTIC_RUN_ID": run_id, "TORCHELASTIC_RESTART_COUNT": 0,
               "TORCHELASTIC_MAX_RESTARTS": args.max_restarts,
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        if rank:
            cmd.append(":")
        cmd += ["-n", "1"]
        if hosts:
            cmd += ["-host", hosts[node]]
        for k, v in env.items():
            cmd += ["-env", k, str(v)]
        cmd += prog
    return cmd


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.node_rank > 0 and not args.standalone and _nnodes(args.nnodes) > 1:
        print(f"ember.distributed.run: node rank {args.node_rank}: nothing to start here; the "
              "launcher on node 0 starts every node's ranks through MPI (--hostfile)",
              file=sys.stderr)
        return 0
    if args.module and args.no_python:
        raise SystemExit("ember.distributed.run: --no-python and -m cannot both be given")
    cmd = build_command(args)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    proc = subprocess.Popen(cmd)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # mpiexec passes it on to every rank
        rc = proc.wait()
    if rc != 0:
        print(f"ember.distributed.run: the job failed (mpiexec exit code {rc}); see the first "
              "rank's error above", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
