from typing import Any

import numpy as np

def onefactor_pieces(
    lam: np.ndarray, A: np.ndarray, B: np.ndarray, XyXy: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray] | None: ...
def onefactor_inverses(Lw: np.ndarray) -> np.ndarray: ...
def onefactor_solution(
    lam: np.ndarray, Lw: np.ndarray, B: np.ndarray, S: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def onefactor_deviance(
    lam: np.ndarray,
    A: np.ndarray,
    B: np.ndarray,
    XyXy: np.ndarray,
    n: int,
    reml: bool,
    log_weights: float,
) -> float: ...
def hessian_spectrum(H: np.ndarray) -> tuple[list[float], bool] | None: ...
def scaled_gradient(H: np.ndarray, g: np.ndarray) -> float: ...
def lower_triangle(work: np.ndarray) -> np.ndarray: ...
def dense_solution(
    L: np.ndarray, q: int, lam: np.ndarray
) -> tuple[float, float, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def dense_factor(
    lam: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XyXy: np.ndarray,
    work: np.ndarray,
    diagonal: bool = False,
) -> int: ...
def dense_deviance(
    lam: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XyXy: np.ndarray,
    n: int,
    reml: bool,
    log_weights: float,
    diagonal: bool = False,
) -> float: ...
def schur_products(
    indptr_i: np.ndarray,
    indices_i: np.ndarray,
    data_i: np.ndarray,
    indptr_j: np.ndarray,
    indices_j: np.ndarray,
    data_j: np.ndarray,
    w: np.ndarray,
    out: np.ndarray,
    symmetric: bool,
) -> None: ...

class Objective:
    size: int
    evaluations: int
    def deviance(self, theta: np.ndarray) -> float: ...
    def gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray] | None: ...
    def moment_start(self) -> np.ndarray | None: ...
    def newton(
        self,
        start: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        step_tol: float = 1e-9,
        gap: float = 1e-3,
        max_iter: int = 100,
        max_evals: int = 1000,
    ) -> dict[str, Any]: ...

class OneTermObjective(Objective):
    def __init__(
        self,
        A: np.ndarray,
        B: np.ndarray,
        XyXy: np.ndarray,
        n: int,
        reml: bool,
        log_weights: float,
        rows: np.ndarray,
        cols: np.ndarray,
        which: np.ndarray,
        size: int,
    ) -> None: ...

class DenseObjective(Objective):
    def __init__(
        self,
        ZtZ: np.ndarray,
        ZtXy: np.ndarray,
        XyXy: np.ndarray,
        n: int,
        reml: bool,
        log_weights: float,
        flat: np.ndarray,
        src: np.ndarray,
        rows: np.ndarray,
        cols: np.ndarray,
        size: int,
        diagonal: bool = False,
    ) -> None: ...

class ScalarTermsObjective(Objective):
    def __init__(
        self,
        ZtZ: np.ndarray,
        ZtXy: np.ndarray,
        XyXy: np.ndarray,
        n: int,
        reml: bool,
        log_weights: float,
        col: np.ndarray,
        src: np.ndarray,
        size: int,
        lead: int,
    ) -> None: ...

def level_products(
    codes: np.ndarray, X0: np.ndarray, X: np.ndarray, y: np.ndarray, nlev: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def xy_rows(X: np.ndarray, y: np.ndarray) -> np.ndarray: ...
def xy_cross(Xy: np.ndarray) -> np.ndarray: ...
def small_products(
    cols: np.ndarray, vals: np.ndarray, Xy: np.ndarray, q: int
) -> tuple[np.ndarray, np.ndarray]: ...
def coupling_inverse_products(
    ptr: np.ndarray,
    rows: np.ndarray,
    values: np.ndarray,
    L0inv: np.ndarray,
    P11: np.ndarray,
    P00: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]: ...
def pattern_positions(
    ptr: np.ndarray, rows: np.ndarray, level: np.ndarray, row: np.ndarray
) -> np.ndarray: ...
