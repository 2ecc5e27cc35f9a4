import uuid
from dataclasses import replace

from cds_service.cards.identity import stable_uuid
from tests.cards.factory import request

CALL = request(hook_instance="hook-1")


def test_same_call_and_key_give_the_same_uuid():
    again = request(hook_instance="hook-1")
    assert stable_uuid(CALL, "disposition/mri") == stable_uuid(again, "disposition/mri")


def test_other_hook_instance_or_key_gives_another_uuid():
    ids = {
        stable_uuid(CALL, "disposition/mri"),
        stable_uuid(request(hook_instance="hook-2"), "disposition/mri"),
        stable_uuid(CALL, "disposition/mri/mri"),
    }
    assert len(ids) == 3


def test_two_patients_under_one_hook_instance_never_share_an_id():
    other_patient = request(hook_instance="hook-1", patientId="pat-2")
    assert stable_uuid(CALL, "disposition/mri") != stable_uuid(other_patient, "disposition/mri")


def test_another_service_under_one_hook_instance_gets_another_id():
    other_service = replace(CALL, service_id="radix-lumbar-imaging-sign")
    assert stable_uuid(CALL, "k") != stable_uuid(other_service, "k")


def test_parts_cannot_be_shifted_between_instance_and_key():
    shifted = request(hook_instance="hook-1\x00x")
    assert stable_uuid(shifted, "k") != stable_uuid(CALL, "x\x00k")
    assert stable_uuid(request(hook_instance="a/b"), "c") != stable_uuid(
        request(hook_instance="a"), "b/c"
    )


def test_is_a_version_5_uuid():
    assert uuid.UUID(stable_uuid(CALL, "k")).version == 5
