import bisuna


def test_core_extension_reports_its_version() -> None:
    assert bisuna.__version__.count(".") == 2
