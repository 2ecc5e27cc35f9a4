"""follow_url: which next links may carry the EHR's token, judged as a server could read them."""

import pytest

from cds_service.data.next_link import follow_url

BASE = "https://ehr.example.org:8443/fhir/R4"


@pytest.mark.parametrize(
    "link, fetched",
    [
        ("https://ehr.example.org:8443/fhir/R4/Observation?page=2", None),
        ("https://EHR.example.org:8443/fhir/R4?_getpages=abc&_offset=20", None),
        ("Observation?page=2", "https://ehr.example.org:8443/fhir/R4/Observation?page=2"),
        ("./Observation?page=2", "https://ehr.example.org:8443/fhir/R4/Observation?page=2"),
        (
            "HTTPS://ehr.example.org:8443/fhir/R4/./a/../Observation?x=1",
            "https://ehr.example.org:8443/fhir/R4/Observation?x=1",
        ),
        (
            "https://ehr.example.org:8443/fhir/R4/Observation#top",
            "https://ehr.example.org:8443/fhir/R4/Observation",
        ),
        ("https://ehr.example.org:08443/fhir/R4/x", "https://ehr.example.org:8443/fhir/R4/x"),
    ],
)
def test_links_below_the_base_are_followed_as_resolved(link, fetched):
    assert follow_url(link, BASE) == (fetched or link.replace("EHR", "ehr"))


def test_default_ports_and_a_trailing_slash_on_the_base_do_not_matter():
    assert follow_url("http://h:80/fhir/x", "http://H/fhir/") == "http://H/fhir/x"
    assert follow_url("https://h/fhir/x?p=1", "https://h:443/fhir") == "https://h:443/fhir/x?p=1"
    assert follow_url("http://[::1]:9/fhir/x", "http://[::1]:9/fhir") == "http://[::1]:9/fhir/x"


@pytest.mark.parametrize(
    "link",
    [
        "https://ehr.example.org:8443/fhir/R4-evil/Observation",
        "https://ehr.example.org:8443/fhir/R",
        "https://ehr.example.org:8443/fhir/r4/Observation",
        "https://ehr.example.org:8443/fhir/R4/../../admin/secret",
        "https://ehr.example.org:8443/fhir/R4/..",
        "https://ehr.example.org:8443/fhir/R4/%2e%2e/admin",
        "https://ehr.example.org:8443/fhir/R4/%2E./admin",
        "https://ehr.example.org:8443/fhir/R4/..%2fadmin",
        "https://ehr.example.org:8443/fhir/R4/x/..%2F..%2F..%2Fadmin",
        "https://ehr.example.org:8443/fhir/R4/%252e%252e/admin",
        "https://ehr.example.org:8443/fhir/R4/%25252525252e%25252525252e/admin",
        "https://ehr.example.org:8443/fhir%2fR4/Observation",
        "https://ehr.example.org:8443/fhir/R4/..\\admin",
        "https://ehr.example.org:8443/fhir/R4/x%5c..%5c..%5cadmin",
        "../admin",
        "/admin",
        "//evil.example/fhir/R4/Observation",
        "https://ehr.example.org/fhir/R4/Observation",
        "https://ehr.example.org:9443/fhir/R4/Observation",
        "http://ehr.example.org:8443/fhir/R4/Observation",
        "https://ehr.example.org.:8443/fhir/R4/Observation",
        "https://user:pw@ehr.example.org:8443/fhir/R4/Observation",
        "https://@ehr.example.org:8443/fhir/R4/Observation",
        "https://ehr.example.org:8443@evil.example/fhir/R4/Observation",
        "https://ehr.example.org:8443\\@evil.example/fhir/R4/Observation",
        "https://ehr.example.org:99999/fhir/R4/Observation",
        "https://ehr.example.org:8443/fhir/R4/Obs ervation",
        "https://ehr.example.org:8443/fhir/R4/Obs\tervation",
        "ftp://ehr.example.org:8443/fhir/R4/Observation",
        "javascript:alert(1)",
    ],
)
def test_anything_else_is_refused(link):
    assert follow_url(link, BASE) is None
