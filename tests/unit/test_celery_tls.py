"""A rediss:// URL gives Celery's broker and result backend certificate checks, not none."""

from __future__ import annotations

import ssl

import pytest

from services.scheduler.celery_app import make_app, redis_tls_options
from services.scheduler.config import SolverSettings

URL = "rediss://:pw@solver.example.net:6380/0"


def test_options_of_a_rediss_url() -> None:
    assert redis_tls_options("redis://h:6379/0") is None
    assert redis_tls_options("amqps://u:p@h/vh") is None
    assert redis_tls_options(URL) == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert redis_tls_options(URL + "?ssl_ca_certs=/etc/edgemarket/ca.pem") == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": "/etc/edgemarket/ca.pem",
    }
    assert redis_tls_options(URL + "?ssl_cert_reqs=none") == {"ssl_cert_reqs": ssl.CERT_NONE}
    with pytest.raises(ValueError, match="ssl_cert_reqs='maybe'"):
        redis_tls_options(URL + "?ssl_cert_reqs=maybe")


def test_the_readme_url_checks_certificates_on_broker_and_backend(clean_env: None) -> None:
    app = make_app(SolverSettings(redis_url=URL))
    # kombu alone connects to a rediss:// broker with CERT_NONE ("insecure SSL behaviour")
    with app.connection_for_write() as conn:
        assert conn.ssl["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    # Celery's backend alone refuses a rediss:// URL without ssl_cert_reqs (ValueError)
    backend = app.backend
    assert backend.connparams["ssl_cert_reqs"] == ssl.CERT_REQUIRED


def test_a_private_ca_in_the_url_reaches_both(clean_env: None) -> None:
    app = make_app(SolverSettings(redis_url=URL + "?ssl_ca_certs=/ca.pem"))
    with app.connection_for_write() as conn:
        assert conn.ssl["ssl_ca_certs"] == "/ca.pem"
    assert app.backend.connparams["ssl_ca_certs"] == "/ca.pem"
