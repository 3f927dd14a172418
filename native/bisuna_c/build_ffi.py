"""Builds bisuna._bisuna, the cffi extension over the C core (run by setuptools at install)."""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

ffibuilder = FFI()
ffibuilder.cdef(
    """
    const char *bsn_version(void);
    """
)
ffibuilder.set_source(
    "bisuna._bisuna",
    '#include "bisuna.h"',
    sources=[str(p.relative_to(ROOT)) for p in sorted((HERE / "src").glob("*.c"))],
    include_dirs=[str((HERE / "include").relative_to(ROOT))],
    extra_compile_args=["-std=c11", "-O3"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
