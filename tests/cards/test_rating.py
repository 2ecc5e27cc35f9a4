from cds_service.cards.rating import rating_action
from cds_service.cards.service_request import PAMA_RATING_URL
from tests.cards.factory import draft_mri, rating


def test_rating_is_an_update_of_the_same_draft_with_the_pama_extension():
    draft = draft_mri("d7")
    action = rating_action(rating(draft, "appropriate", rule="order-rating/red-flag"))
    assert action["type"] == "update"
    assert action["description"]
    resource = action["resource"]
    assert resource["id"] == "d7"
    assert resource["extension"] == [
        {
            "url": PAMA_RATING_URL,
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "http://fhir.org/argonaut/CodeSystem/pama-rating",
                        "code": "appropriate",
                    }
                ]
            },
        }
    ]
    assert {k: v for k, v in resource.items() if k != "extension"} == draft
