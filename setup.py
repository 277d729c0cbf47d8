"""The compiled core (issue 15): Cython extensions built with the package.

Everything else about the package is in pyproject.toml; setuptools reads the extensions
here. SciPy's BLAS and LAPACK are reached through its Cython declarations
(scipy.linalg.cython_blas / cython_lapack), so nothing is linked at build time.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "lmeformula.engines.pirls_kernels",
        ["src/lmeformula/engines/pirls_kernels.pyx"],
        extra_compile_args=["-O2"],
    ),
    Extension(
        "lmeformula.engines.laplace_kernels",
        ["src/lmeformula/engines/laplace_kernels.pyx"],
        extra_compile_args=["-O2"],
    ),
    Extension(
        "lmeformula.engines.lmm_kernels",
        ["src/lmeformula/engines/lmm_kernels.pyx"],
        extra_compile_args=["-O2"],
    ),
    Extension(
        "lmeformula.model.model_kernels",
        ["src/lmeformula/model/model_kernels.pyx"],
        extra_compile_args=["-O2"],
    ),
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
