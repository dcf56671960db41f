"""One rank of ``ember.multiprocessing.spawn`` under mpiexec: ``python -m
ember.multiprocessing._spawn_child DIR``.

DIR/payload holds multiprocessing's preparation data (sys.path, working directory, the main
script, authkey), whether ``ember.compat`` was installed, and the pickled ``(fn, args)``. The
rank prepares itself as a multiprocessing spawn child does (the main script is imported as
``__mp_main__``, so its ``if __name__ == "__main__":`` block does not run again), calls
``fn(rank, *args)``, and reports to the parent through files in DIR: ``<rank>.pid``,
``<rank>.done``, ``<rank>.err`` (a traceback) or ``<rank>.exit`` (a non-zero SystemExit code).
"""
from __future__ import annotations

import os
import pickle
import sys
import time
import traceback
from multiprocessing import spawn as mp_spawn
from multiprocessing.reduction import ForkingPickler

from ember import compat


def _rank() -> int:
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def _report(folder: str, name: str, what) -> None:
    tmp = os.path.join(folder, f".{name}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump((time.time(), what), fh)
    os.replace(tmp, os.path.join(folder, name))  # the parent never reads half a file


def _fail(code: int) -> None:
    """Leave now, and make mpiexec end the other ranks (they may wait in a collective)."""
    sys.stdout.flush()
    sys.stderr.flush()
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        mpi.COMM_WORLD.Abort(code)
    os._exit(code)


def main(folder: str) -> None:
    rank = _rank()
    tmp = os.path.join(folder, f".{rank}.pid.tmp")
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, os.path.join(folder, f"{rank}.pid"))  # read whole or not at all
    with open(os.path.join(folder, "payload"), "rb") as fh:
        payload = pickle.load(fh)
    if payload["compat"]:
        compat.install()

    prep = dict(payload["prep"], name=f"SpawnProcess-{rank + 1}")
    mp_spawn.prepare(prep)
    try:
        fn, args = ForkingPickler.loads(payload["fn_args"][rank])
        fn(rank, *args)
    except KeyboardInterrupt:
        _fail(130)  # ended by the parent
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code:
            _report(folder, f"{rank}.exit", code)
            _fail(code)
    except Exception:  # noqa: BLE001 - any error of fn goes to the parent, as in PyTorch
        _report(folder, f"{rank}.err", traceback.format_exc())
        _fail(1)
    _report(folder, f"{rank}.done", 0)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isfile(os.path.join(sys.argv[1], "payload")):
        sys.exit("ember.multiprocessing._spawn_child: started by ember.multiprocessing.spawn "
                 "only (usage: python -m ember.multiprocessing._spawn_child DIR)")
    main(sys.argv[1])
