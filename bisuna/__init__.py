"""BiSUNA: binary neuroevolution, the Python face of the C core in native/bisuna_c.

Three layers, as in pynacl: `bisuna._bisuna` (compiled cffi module), `bisuna.bindings` (the
only module touching ffi/lib), and the public classes re-exported here."""

from bisuna.agent import KINDS, RATES, Agent, Connection, Network
from bisuna.bindings import SCORE_MAX, SCORERS, VERSION, derive_seed
from bisuna.errors import (
    BisunaError,
    FormatError,
    LimitError,
    OutOfMemory,
    ScorerError,
    ShapeError,
    SpecError,
)
from bisuna.fuel import ScoreDetail, fuel_ceiling, score_detail, score_many_detail
from bisuna.population import (
    Environment,
    History,
    Population,
    cipher_preview,
    score,
    score_many,
    strategies,
)

__version__: str = VERSION

__all__ = [
    "KINDS",
    "RATES",
    "SCORERS",
    "SCORE_MAX",
    "Agent",
    "BisunaError",
    "Connection",
    "Environment",
    "FormatError",
    "History",
    "LimitError",
    "Network",
    "OutOfMemory",
    "Population",
    "ScoreDetail",
    "ScorerError",
    "ShapeError",
    "SpecError",
    "cipher_preview",
    "derive_seed",
    "fuel_ceiling",
    "score",
    "score_detail",
    "score_many",
    "score_many_detail",
    "strategies",
]
