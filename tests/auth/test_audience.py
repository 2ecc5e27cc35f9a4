"""Audience URLs: built from the public base URL, compared after harmless normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.auth.audience import audience_url, normalise_audience


@pytest.mark.parametrize(
    ("base", "path"),
    [
        ("https://cds.example.org", "/cds-services"),
        ("https://cds.example.org/", "cds-services"),
        ("https://cds.example.org/", "/cds-services"),
    ],
)
def test_audience_url_joins_base_and_path_with_one_slash(base: str, path: str) -> None:
    assert audience_url(base, path) == "https://cds.example.org/cds-services"


def test_audience_url_keeps_a_base_path_from_a_reverse_proxy() -> None:
    assert (
        audience_url("https://ehr-apps.example.org/radix/", "/cds-services/radix-lumbar")
        == "https://ehr-apps.example.org/radix/cds-services/radix-lumbar"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://cds.example.org/cds-services/", "https://cds.example.org/cds-services"),
        ("HTTPS://CDS.Example.ORG/cds-services", "https://cds.example.org/cds-services"),
        ("https://cds.example.org:443/cds-services", "https://cds.example.org/cds-services"),
        ("http://127.0.0.1:80/cds-services", "http://127.0.0.1/cds-services"),
        ("https://cds.example.org/cds-services#x", "https://cds.example.org/cds-services"),
        (" https://cds.example.org/cds-services ", "https://cds.example.org/cds-services"),
        ("http://[::1]:8080/cds-services", "http://[::1]:8080/cds-services/"),
    ],
)
def test_harmless_differences_compare_equal(a: str, b: str) -> None:
    assert normalise_audience(a) == normalise_audience(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://cds.example.org/CDS-services", "https://cds.example.org/cds-services"),
        ("http://cds.example.org/cds-services", "https://cds.example.org/cds-services"),
        ("https://cds.example.org:8443/cds-services", "https://cds.example.org/cds-services"),
        ("https://cds.example.org.evil/cds-services", "https://cds.example.org/cds-services"),
        ("https://cds.example.org/cds-services/x", "https://cds.example.org/cds-services"),
        ("https://user@cds.example.org/cds-services", "https://cds.example.org/cds-services"),
        ("https://cds.example.org:99999/cds-services", "https://cds.example.org/cds-services"),
        ("https://cds.example.org/cds-services?x=1", "https://cds.example.org/cds-services"),
    ],
)
def test_meaningful_differences_stay_different(a: str, b: str) -> None:
    assert normalise_audience(a) != normalise_audience(b)


_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True)
_paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True), max_size=4)


@settings(max_examples=50, deadline=None)
@given(scheme=st.sampled_from(["http", "https"]), host=_hosts, segments=_paths)
def test_an_endpoint_url_and_its_harmless_variants_compare_equal(
    scheme: str, host: str, segments: list[str]
) -> None:
    path = "/" + "/".join(segments)
    url = f"{scheme}://{host}{path}"
    default_port = {"http": 80, "https": 443}[scheme]
    variants = [
        f"{scheme.upper()}://{host.upper()}{path}",
        f"{scheme}://{host}:{default_port}{path}",
        url.rstrip("/") + "/",
    ]
    assert all(normalise_audience(v) == normalise_audience(url) for v in variants)
    assert normalise_audience(normalise_audience(url)) == normalise_audience(url)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_any_text_normalises_without_error(url: str) -> None:
    assert isinstance(normalise_audience(url), str)


def test_a_broken_ipv6_literal_matches_only_itself() -> None:
    assert normalise_audience(" http://[::1/x ") == "http://[::1/x"
