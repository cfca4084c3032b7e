"""Training time with ``train(num_workers=0)`` vs ``num_workers=N`` on the bundled lymph node.

``python benchmarks/num_workers.py [N] [EPOCHS]``: URMF and MOSAICVI on the bundled lymph node
(3484 spots x 31 ADTs), each trained EPOCHS epochs (default 10) with 0 and N (default 2) loader
workers, in this one process; prints the wall time of ``train()`` and the load average.
Wall times are only comparable on an otherwise idle machine.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import scvi

import remadom
from remadom.model import MOSAICVI, URMF

warnings.filterwarnings("ignore")


def main(n_workers: int = 2, epochs: int = 10) -> None:
    m = remadom.datasets.lymph_node_s1()
    remadom.data.pca_protein(m["prot"])
    remadom.data.spatial_graph(m, n_neighs=6)
    m = m[np.asarray(m["prot"].X.sum(1)).ravel() > 0].copy()  # one spot has no ADT count
    for name in ("urmf", "mosaicvi"):
        for nw in (0, n_workers):
            scvi.settings.seed = 0
            if name == "urmf":
                URMF.setup_mudata(m, modalities=["prot"], layers={"prot": "X_pca"})
                model = URMF(m)
            else:
                MOSAICVI.setup_mudata(m, modalities=["prot"])
                model = MOSAICVI(m)
            t0 = time.perf_counter()
            model.train(max_epochs=epochs, num_workers=nw, enable_progress_bar=False)
            dt = time.perf_counter() - t0
            print(
                f"{name} num_workers={nw}: {dt:.1f} s for {epochs} epochs "
                f"(load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
