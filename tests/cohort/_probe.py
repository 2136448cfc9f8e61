"""A per-recording function that records the execution environment of its worker."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from fasciq.cohort.batch import ProcessOptions


def probe_environment(path: Path, outdir: Path, options: ProcessOptions) -> dict[str, Any]:
    """Write ``probe.json``: thread pools, environment and Dask settings seen by the task."""
    import dask
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((64, 64)) @ np.ones((64, 64))  # the BLAS is loaded and used
    pools = threadpool_info()
    facts = {
        "pid": os.getpid(),
        "options_threads": options.threads,
        "blas_threads": sorted({p["num_threads"] for p in pools if p["user_api"] == "blas"}),
        "openmp_threads": sorted({p["num_threads"] for p in pools if p["user_api"] == "openmp"}),
        "env": {
            k: os.environ.get(k)
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")
        },
        "profile": dask.config.get("distributed.worker.profile.enabled"),
        "start": time.time(),
        "size": os.stat(path).st_size,
    }
    outdir.mkdir(parents=True)
    (outdir / "probe.json").write_text(json.dumps(facts))
    time.sleep(0.05)  # every worker gets a task
    return {"pid": facts["pid"]}
