"""Problem documents (RFC 7807 / RFC 8555 §6.7) become typed `AcmeProblem`s."""

import json

from star_operator.acme.errors import AcmeProblem, problem_from_body

CANCELED = "urn:ietf:params:acme:error:autoRenewalCanceled"


def test_star_problem_keeps_type_short_type_detail_and_status() -> None:
    body = json.dumps({"type": CANCELED, "detail": "order was canceled", "status": 403}).encode()
    problem = problem_from_body(403, body, "https://ca/star/1")
    assert problem.type == CANCELED
    assert problem.short_type == "autoRenewalCanceled"
    assert problem.detail == "order was canceled"
    assert problem.status == 403
    assert "autoRenewalCanceled" in str(problem) and "https://ca/star/1" in str(problem)


def test_subproblems_carry_their_identifiers() -> None:
    doc = {
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "two names refused",
        "subproblems": [
            {
                "type": "urn:ietf:params:acme:error:caa",
                "detail": "CAA forbids",
                "identifier": {"type": "dns", "value": "a.example.test"},
            },
            {
                "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                "identifier": {"type": "dns", "value": "b.example.test"},
            },
        ],
    }
    problem = AcmeProblem.from_json(doc, status=400)
    assert problem.status == 400
    assert [s.short_type for s in problem.subproblems] == ["caa", "rejectedIdentifier"]
    assert problem.subproblems[0].identifier == {"type": "dns", "value": "a.example.test"}
    assert problem.subproblems[0].detail == "CAA forbids"
    assert "a.example.test" in str(problem)


def test_status_in_document_wins_over_response_status() -> None:
    problem = AcmeProblem.from_json({"type": CANCELED, "status": 403}, status=500)
    assert problem.status == 403


def test_non_acme_type_is_kept_whole() -> None:
    problem = AcmeProblem.from_json({"type": "https://example.test/oops"}, status=418)
    assert problem.short_type == "https://example.test/oops"


def test_body_that_is_not_a_problem_still_gives_typed_error() -> None:
    problem = problem_from_body(502, b"<html>bad gateway</html>", "https://ca/x")
    assert problem.status == 502
    assert problem.type == "about:blank"
    assert "bad gateway" in problem.detail


def test_malformed_problem_fields_do_not_crash() -> None:
    problem = AcmeProblem.from_json({"type": CANCELED, "subproblems": "nonsense"}, status=403)
    assert problem.short_type == "autoRenewalCanceled"
