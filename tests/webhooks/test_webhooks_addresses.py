"""SSRF guard: internal addresses are refused (unless allowed) at registration and delivery."""

import ipaddress

import pytest

from common.errors import Invalid
from webhooks import addresses, transport


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "http:///nohost",
        "http://user:pw@example.org/",
        "http://example.org/a b",
        "http://example.org:99999/",
        "http://example.org/#frag",
        "http://example.org/" + "a" * 2000,
        "",
    ],
)
def test_bad_urls_are_invalid_with_the_field_named(url):
    with pytest.raises(Invalid) as err:
        addresses.parse(url)
    assert "url" in err.value.fields


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.2",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "fc00::1",
        "100.64.0.1",
        "0.0.0.0",
        "::ffff:10.0.0.1",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused(settings, ip):
    settings.CHIPLAB_WEBHOOK_REFUSE_PRIVATE = True
    settings.CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert not addresses.permitted(ipaddress.ip_address(ip))
    host = f"[{ip}]" if ":" in ip else ip
    with pytest.raises(Invalid) as err:
        addresses.url_check(f"http://{host}:8080/hook")
    assert err.value.code == "url_refused"


def test_public_addresses_and_allowed_networks_pass(settings):
    settings.CHIPLAB_WEBHOOK_REFUSE_PRIVATE = True
    settings.CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32", "10.9.0.0/16"]
    assert addresses.permitted(ipaddress.ip_address("93.184.215.14"))
    assert addresses.permitted(ipaddress.ip_address("127.0.0.1"))
    assert addresses.permitted(ipaddress.ip_address("10.9.8.7"))
    assert not addresses.permitted(ipaddress.ip_address("10.8.0.1"))
    assert addresses.url_check(" http://127.0.0.1:9/x ") == "http://127.0.0.1:9/x"


def test_names_resolving_to_loopback_are_refused_without_the_allowance(settings):
    settings.CHIPLAB_WEBHOOK_REFUSE_PRIVATE = True
    settings.CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = []
    for url in ("http://localhost:8000/", "http://127.0.0.1:8000/", "http://[::1]/"):
        with pytest.raises(Invalid):
            addresses.url_check(url)


def test_embedded_mode_default_does_not_refuse(settings):
    settings.CHIPLAB_WEBHOOK_REFUSE_PRIVATE = False
    settings.CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = []
    assert addresses.permitted(ipaddress.ip_address("10.0.0.1"))
    assert addresses.url_check("http://localhost:8000/") == "http://localhost:8000/"


def test_delivery_to_a_refused_address_is_never_sent(settings, receiver):
    """Checked again before each POST (a hook saved earlier, then the settings tightened)."""
    settings.CHIPLAB_WEBHOOK_REFUSE_PRIVATE = True
    settings.CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = []
    outcome = transport.post(receiver.url, b"{}", {}, timeout=2)
    assert outcome.status_code is None and outcome.permanent
    assert outcome.error.startswith("refused:")
    assert receiver.requests == []
    settings.CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    outcome = transport.post(receiver.url, b"{}", {}, timeout=2)
    assert outcome.ok and len(receiver.requests) == 1
