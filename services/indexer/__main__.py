"""`python -m services.indexer`: the indexer without the CLI's imports (same as `edgemarket run indexer`)."""

from services.common.settings import get_settings
from services.indexer.service import run

run(get_settings())
