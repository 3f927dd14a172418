"""BiSUNA: binary neuroevolution, the Python face of the C core in native/bisuna_c."""

from bisuna._bisuna import ffi as _ffi
from bisuna._bisuna import lib as _lib

__version__: str = _ffi.string(_lib.bsn_version()).decode()
