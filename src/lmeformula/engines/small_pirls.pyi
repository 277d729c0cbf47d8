import numpy as np

def run(
    A: np.ndarray,
    q: int,
    y: np.ndarray,
    wt: np.ndarray,
    off: np.ndarray,
    family: int,
    link: int,
    nb_theta: float,
    probit_edge: float,
    cauchit_edge: float,
    coef0: np.ndarray,
    fixed: bool,
    eta0: np.ndarray | None,
    tol: float,
    rough: bool,
    max_steps: int,
    max_halvings: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, int, bool]: ...
