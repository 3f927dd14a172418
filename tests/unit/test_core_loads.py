import bisuna


def test_core_extension_reports_its_version() -> None:
    assert bisuna.__version__.count(".") == 2


def test_core_exposes_the_interface_names() -> None:
    assert bisuna.SCORERS == ("bisuna-core/1", "bisuna-core/2")
    for name in ("Agent", "Population", "score", "derive_seed", "cipher_preview"):
        assert hasattr(bisuna, name)
    assert issubclass(bisuna.FormatError, ValueError)
    assert issubclass(bisuna.FormatError, bisuna.BisunaError)
