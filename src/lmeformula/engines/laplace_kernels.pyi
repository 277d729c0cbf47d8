import numpy as np

def leverages(Pi: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def scatter_rows(cols: np.ndarray, A: np.ndarray, weight: np.ndarray, q: int) -> np.ndarray: ...
def row_products(cols: np.ndarray, A: np.ndarray, g: np.ndarray) -> np.ndarray: ...
def theta_gradient(
    x: np.ndarray,
    cols: np.ndarray,
    e: np.ndarray,
    s: np.ndarray,
    w: np.ndarray,
    u: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    ca: np.ndarray,
    cb: np.ndarray,
    which: np.ndarray,
    size: int,
) -> np.ndarray: ...
def block_leverages(
    L0inv: np.ndarray, level: np.ndarray, A: np.ndarray
) -> tuple[np.ndarray, np.ndarray]: ...
def block_solve_rows(
    L0inv: np.ndarray, level: np.ndarray, A: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]: ...
def block_beta_rows(
    L0inv: np.ndarray, level: np.ndarray, A: np.ndarray, X: np.ndarray, Y: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]: ...
def block_gradient(
    L0inv: np.ndarray,
    level: np.ndarray,
    A: np.ndarray,
    x: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    wt: np.ndarray,
    w: np.ndarray,
    slope: np.ndarray,
    u: np.ndarray,
    Lx: np.ndarray,
    joint: bool,
    ca: np.ndarray,
    cb: np.ndarray,
    which: np.ndarray,
    size: int,
) -> np.ndarray: ...
