from cds_service.cards import guideline


def test_rule_ids_match_their_prefix_and_sources_are_listed_once():
    found = guideline.sources(["cauda-equina", "cauda-equina/urinary-retention", "malignancy"])
    assert found == (guideline.GIRFT_CES, guideline.ACR_LOW_BACK_PAIN, guideline.ACP_2011)


def test_unknown_topics_give_no_link():
    assert guideline.sources(["disposition/none", "no-such-topic"]) == ()


def test_uk_mode_links_nice_ng59():
    assert guideline.NICE_NG59 in guideline.sources(["uk-mode"])


def test_links_are_absolute_https_urls():
    links = guideline.links(["physiotherapy", "cauda-equina", "upper-motor-neuron"])
    assert links
    for link in links:
        assert link["type"] == "absolute"
        assert link["url"].startswith("https://")
        assert link["label"]
