import uuid

from cds_service.cards.identity import stable_uuid


def test_same_hook_instance_and_key_give_the_same_uuid():
    assert stable_uuid("hook-1", "disposition/mri") == stable_uuid("hook-1", "disposition/mri")


def test_other_hook_instance_or_key_gives_another_uuid():
    ids = {
        stable_uuid("hook-1", "disposition/mri"),
        stable_uuid("hook-2", "disposition/mri"),
        stable_uuid("hook-1", "disposition/mri/mri"),
    }
    assert len(ids) == 3


def test_parts_cannot_be_shifted_between_instance_and_key():
    assert stable_uuid("a/b", "c") != stable_uuid("a", "b/c")


def test_is_a_version_5_uuid():
    assert uuid.UUID(stable_uuid("hook-1", "k")).version == 5
