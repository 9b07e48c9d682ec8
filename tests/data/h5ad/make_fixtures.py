"""Write the small AnnData fixtures that tests/h5ad.rs reads (run once; the .h5ad files are committed).

    python3 -m venv /tmp/ad && /tmp/ad/bin/pip install anndata
    /tmp/ad/bin/python tests/data/h5ad/make_fixtures.py

Every value is a deterministic function of the row index, so the Rust test recomputes what it
expects instead of reading it back from another file:
    cell i (0 ≤ i < 60) belongs to snapshot k = i // 20 (rows are written grouped, in time order);
    obsm["X_pca"][i, j] = k + 0.01 * i + 0.1 * j        (4 columns)
    X[i, g]            = 0.5 * i + g                    (5 genes; dense float32, or CSR with
                                                          zeros where (i + g) % 3 == 0)
    layers["scaled"]   = X / 10
"""

import os

import anndata as ad
import h5py
import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
N_PER, N_SNAP, N_PCS, N_GENES = 20, 3, 4, 5
N = N_PER * N_SNAP
i = np.arange(N)
k = i // N_PER


def pca():
    return (k[:, None] + 0.01 * i[:, None] + 0.1 * np.arange(N_PCS)[None, :]).astype(np.float64)


def x_dense():
    return (0.5 * i[:, None] + np.arange(N_GENES)[None, :]).astype(np.float32)


def make(obs, x=None):
    a = ad.AnnData(
        X=x_dense() if x is None else x,
        obs=pd.DataFrame(obs, index=[f"cell{j}" for j in range(N)]),
        var=pd.DataFrame(index=[f"gene{g}" for g in range(N_GENES)]),
    )
    a.obsm["X_pca"] = pca()
    a.layers["scaled"] = x_dense() / 10
    return a


def write(a, name):
    path = os.path.join(HERE, name)
    a.write_h5ad(path)
    print("wrote", path, os.path.getsize(path), "bytes")
    return path


# 1. Dense X, float time column, plus columns the tests refuse: free-text strings (unique, so
#    anndata keeps them as a string array) and a label per cell.
days = np.array([0.0, 1.5, 4.0])
write(make({"day": days[k], "barcode": [f"AC{j:04d}" for j in range(N)]}), "dense.h5ad")

# 2. Categorical time whose labels are numbers ("0" < "3" < "6"; stored as strings).
write(make({"day": pd.Categorical(np.array(["0", "3", "6"])[k])}), "categorical_numeric.h5ad")

# 3. Ordered categorical of non-numeric labels: day2 < day10 < day21 (the lexical order is not the
#    time order, so only explicit times can place them).
stage = pd.Categorical(
    np.array(["day2", "day10", "day21"])[k], categories=["day2", "day10", "day21"], ordered=True
)
write(make({"stage": stage}), "ordered_labels.h5ad")

# 4. Sparse CSR X (zeros where (i + g) % 3 == 0), the same as CSC in layers["csc"], integer time column.
import scipy.sparse as sp

xs = x_dense()
xs[(i[:, None] + np.arange(N_GENES)[None, :]) % 3 == 0] = 0
a = make({"day": np.array([0, 2, 5], dtype=np.int64)[k]}, x=sp.csr_matrix(xs))
a.layers["csc"] = sp.csc_matrix(xs)
write(a, "csr.h5ad")

# 5. NaN: one in obsm["X_pca"] (row 7, column 2) and one in the time column "day" (row 45;
#    "day_ok" is the same column without it); obsm also holds a data frame, which is not a matrix.
a = make({"day": days[k], "day_ok": days[k]})
p = pca()
p[7, 2] = np.nan
a.obsm["X_pca"] = p
a.obsm["meta"] = pd.DataFrame({"a": np.arange(N)}, index=a.obs_names)
a.obs.loc["cell45", "day"] = np.nan
write(a, "nan.h5ad")


def copy(src, dst):
    with open(os.path.join(HERE, src), "rb") as f, open(os.path.join(HERE, dst), "wb") as g:
        g.write(f.read())
    return os.path.join(HERE, dst)


# 6. The layout of anndata < 0.8 (which pip no longer installs with current Python): a categorical
#    column is its codes as a dataset, with the categories in obs/__categories/<column>. Made by
#    rewriting fixture 2's column in place with h5py, as anndata 0.7 laid it out.
dst = copy("categorical_numeric.h5ad", "legacy_categorical.h5ad")
with h5py.File(dst, "r+") as f:
    obs = f["obs"]
    cats = obs["day/categories"][()]
    codes = obs["day/codes"][()]
    del obs["day"]
    obs.create_dataset("day", data=codes)
    c = obs.create_dataset("__categories/day", data=cats, dtype=h5py.string_dtype())
    c.attrs["ordered"] = False
    obs["day"].attrs["categories"] = c.ref
print("wrote", dst, os.path.getsize(dst), "bytes")

# 7. A matrix whose rows do not match obs (anndata itself refuses to write one): fixture 1 with
#    obsm["X_pca"] cut to 59 rows by h5py.
dst = copy("dense.h5ad", "mismatch.h5ad")
with h5py.File(dst, "r+") as f:
    x = f["obsm/X_pca"][:59]
    del f["obsm/X_pca"]
    f["obsm"].create_dataset("X_pca", data=x)
print("wrote", dst, os.path.getsize(dst), "bytes")
