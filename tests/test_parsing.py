"""Code extraction and artifact extraction: pure functions, no fakes needed."""

from trirole.artifacts import extract_artifacts, format_artifacts
from trirole.parsing import clip_middle, extract_code, strip_thinking
from trirole.repetition import code_fingerprint, error_signature


def test_plain_python_fence():
    assert extract_code("Let me look.\n```python\nprint(1)\n```") == "print(1)"


def test_think_block_is_dropped_even_with_code_inside():
    text = "<think>maybe ```python\nrm()\n``` no</think>\n```python\nok()\n```"
    assert extract_code(text) == "ok()"


def test_unclosed_think_means_no_code():
    assert extract_code("<think>I should call ```python\nx()\n```") is None


def test_stray_closing_think_tag_drops_what_precedes_it():
    assert strip_thinking("reasoning here</think>\nanswer") == "answer"


def test_second_fence_in_another_language_is_not_code():
    text = "```python\nfetch()\n```\nExpected output:\n```json\n{\"a\": 1}\n```"
    assert extract_code(text) == "fetch()"


def test_two_python_fences_are_one_action_in_order():
    assert extract_code("```python\na = 1\n```\nthen\n```py\nprint(a)\n```") == "a = 1\n\nprint(a)"


def test_unclosed_fence_after_truncation_still_yields_code():
    assert extract_code("```python\nx = 1\nprint(x)") == "x = 1\nprint(x)"


def test_untagged_fence_counts_when_no_python_fence():
    assert extract_code("```\nprint('hi')\n```") == "print('hi')"


def test_prose_without_code_is_none_and_bare_code_is_accepted():
    assert extract_code("I think the answer is 42.") is None
    assert extract_code("Done") is None
    assert extract_code("print(6 * 7)") == "print(6 * 7)"


def test_fingerprint_ignores_comments_and_layout():
    assert code_fingerprint("x = f(1)  # try\n\n\nprint(x)") == code_fingerprint("x = f( 1 )\nprint(x)")


def test_error_signature_ignores_values():
    a = {"error": True, "error_type": "KeyError", "error_message": "'token_1' at 0x7f3a9c12ab"}
    b = {"error": True, "error_type": "KeyError", "error_message": "'token_2' at 0x7f3a9c99ff"}
    assert error_signature(a) == error_signature(b) and error_signature({"error": False}) == ""


def test_clip_middle_keeps_head_and_tail():
    text = "HEAD" + "x" * 1000 + "TAIL"
    clipped = clip_middle(text, 200)
    assert clipped.startswith("HEAD") and clipped.endswith("TAIL") and len(clipped) <= 200 and "cut" in clipped


def test_artifacts_found_in_json_reprs_and_kwargs():
    text = ('{"access_token": "abc.def-123", "expires": 3600}\n'
            "[{'account_name': 'spotify', 'password': 'p@ss w0rd'}]\n"
            "login(username='ada', password=\"hunter2\")\nplaylist_id: 42\n"
            "bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIz")
    found = {(a["name"], a["value"]) for a in extract_artifacts(text, step=3, source="step 3").values()}
    assert ("access_token", "abc.def-123") in found
    assert ("password", "p@ss w0rd") in found and ("password", "hunter2") in found
    assert ("playlist_id", "42") in found
    assert ("token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIz") in found


def test_short_structured_response_is_kept_whole_and_long_ones_are_not():
    short = '{"id": 7, "title": "Road trip"}'
    assert any(a["kind"] == "api_response" for a in extract_artifacts(short, step=1, source="s").values())
    long = "[" + ", ".join(['{"id": %d}' % i for i in range(200)]) + "]"
    assert not any(a["kind"] == "api_response" for a in extract_artifacts(long, step=1, source="s").values())


def test_format_lists_every_secret_even_when_responses_do_not_fit():
    artifacts = extract_artifacts('{"access_token": "T0K3N"}', step=1, source="step 1")
    artifacts.update(extract_artifacts('{"data": "' + "y" * 500 + '"}', step=2, source="step 2"))
    block = format_artifacts(artifacts, max_response_chars_total=50)
    assert "T0K3N" in block and "yyyy" not in block
