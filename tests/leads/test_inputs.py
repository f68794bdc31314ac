"""The edge's one JSON reader and text cleaner (leads.inputs)."""

from __future__ import annotations

import json

import pytest

from leads.inputs import InputError, check_id, clean_text, json_depth_exceeds, read_json


def test_nesting_past_the_limit_is_an_input_error_not_a_recursion_error():
    with pytest.raises(InputError, match="nested more than 64 levels"):
        read_json(b"[" * 100_000 + b"]" * 100_000)


def test_nesting_up_to_the_limit_is_read():
    assert read_json("[" * 64 + "]" * 64) == json.loads("[" * 64 + "]" * 64)
    with pytest.raises(InputError):
        read_json("[" * 65 + "]" * 65)


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"note": "[" * 500 + '\\" {{{' + "]" * 3})
    assert not json_depth_exceeds(text)
    assert read_json(text)["note"].startswith("[[[")


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"\xff\xfe", "not UTF-8"), (b"{nope", "not valid JSON"), (b"", "not valid JSON")],
)
def test_bodies_that_are_not_json_say_why(body, message):
    with pytest.raises(InputError, match=message):
        read_json(body)


def test_nul_and_lone_surrogates_become_the_replacement_character_everywhere():
    body = r'{"name": "Da\u0000na", "k\ud800": ["\udc00x", {"m": "ok \ud83d\ude00"}]}'

    assert read_json(body) == {"name": "Da\ufffdna", "k\ufffd": ["\ufffdx", {"m": "ok 😀"}]}
    # What comes out can be encoded, so PostgreSQL can store it.
    json.dumps(read_json(body), ensure_ascii=False).encode("utf-8")


def test_clean_text_leaves_clean_text_alone():
    assert clean_text("Jane O'Brien\n😀") == "Jane O'Brien\n😀"
    assert clean_text("a\x00b\ud800") == "a\ufffdb\ufffd"


@pytest.mark.parametrize("value", ["abc\x00", "abc\ufffd", "a\nb", "\x1b[0m"])
def test_an_identifier_with_a_control_or_unreadable_character_is_refused_naming_it(value):
    with pytest.raises(InputError, match=r"^lead_guid: ") as caught:
        check_id(value, "lead_guid")
    assert caught.value.field == "lead_guid"


def test_a_plain_identifier_passes():
    assert check_id("3f1c-ab_9:x", "lead_guid") == "3f1c-ab_9:x"
