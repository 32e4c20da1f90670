"""One BLAS / OpenMP thread per process for sandbox children and Dask workers.

Evaluations run side by side, one per core; a library that also starts a thread per core for each small solve
(ASE's optimisers solve 6x6 and 3N x 3N systems at every step) only waits for busy cores: on a loaded machine a bulk
relaxation took 2.4-3.1 s instead of 0.26 s. The pool sizes are read when a library loads, so they go into the
environment of the new process, before it imports numpy. A variable the user set (``OMP_NUM_THREADS=4``) keeps its
value: whoever sets one has chosen.
"""

from __future__ import annotations

import os

#: the thread-pool variables of OpenMP, OpenBLAS, MKL, Accelerate and numexpr: one thread each
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def single_thread_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's environment) with :data:`THREAD_ENV` for each variable not set (or
    set to nothing)."""
    environ = dict(os.environ if environ is None else environ)
    return {**environ, **{name: value for name, value in THREAD_ENV.items() if not environ.get(name, "").strip()}}
