"""The ``kubectl star status`` report and screen, from objects as the API returns them."""
from __future__ import annotations

import datetime
import json

from star_operator.cli import render, status
from star_operator.cli.resources import STARCERTIFICATE, STARORDER

NOW = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
DIRECTORY = "https://ca.example.test/directory"


def _template(summary: str, mode: str) -> dict:
    return {"metadata": {"name": "dno"},
            "spec": {"acme": {"directoryURL": DIRECTORY, "profile": "shortlived"}},
            "status": {"capabilities": {"mode": mode, "summary": summary},
                       "conditions": [{"type": "Ready", "status": "True",
                                       "reason": "AccountRegistered"}]}}


def _order(status_: dict) -> dict:
    return {"metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {"csrTemplateName": "dno", "dnsNames": ["www.example.test"],
                     "secretName": "web-tls"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Issued",
                                       "message": "certificate 3 in Secret web-tls",
                                       "lastTransitionTime": "2030-01-01T11:00:00Z"}],
                       "phase": "Valid", "orderURL": "https://ca.example.test/order/7",
                       "caAccess": {"directoryURL": DIRECTORY}, **status_}}


def _event(reason: str, at: str, kind: str = "StarOrder", name: str = "web",
           uid: str = "u1", **extra) -> dict:
    return {"type": "Normal", "reason": reason, "message": f"{reason} message",
            "lastTimestamp": at, "involvedObject": {"kind": kind, "name": name, "uid": uid},
            **extra}


def test_emulated_series_current_next_and_events() -> None:
    series = {"serial": "abc", "notBefore": "2030-01-01T11:00:00Z",
              "notAfter": "2030-01-01T13:00:00Z", "certificates": 3,
              "renewAt": "2030-01-01T12:20:00Z", "renewBasis": "ARI",
              "window": {"start": "2030-01-01T12:15:00Z", "end": "2030-01-01T12:30:00Z"}}
    objs = status.Objects(kind=STARORDER, obj=_order({"mode": "Emulated", "series": series}),
                          template=_template("Emulated+profiles+ARI", "Emulated"))
    objs.order = objs.obj
    objs.events = [_event(f"E{i:02d}", f"2030-01-01T11:{i:02d}:00Z") for i in range(12, 0, -1)]
    report = status.build(objs, NOW)
    assert report["ca"] == {"directoryURL": DIRECTORY, "mode": "Emulated",
                            "offers": "Emulated", "summary": "Emulated+profiles+ARI"}
    assert report["current"]["serial"] == "abc" and report["current"]["secondsLeft"] == 3600
    assert report["next"]["at"] == "2030-01-01T12:20:00Z" and report["next"]["basis"] == "ARI"
    assert [e["reason"] for e in report["events"]] == [f"E{i:02d}" for i in range(3, 13)]
    assert report["eventsTotal"] == 12
    json.dumps(report)  # -o json
    lines = status.text(report, NOW)
    text = "\n".join(lines)
    assert "Mode:" in text and "Emulated (CA: Emulated+profiles+ARI)" in text
    assert "Template:             dno (Ready True, AccountRegistered), profile shortlived" in text
    assert "2030-01-01T12:20:00Z (in 20m)" in text and "window 2030-01-01T12:15:00Z" in text
    assert "Time left:  1h" in text and "certificate 3" in text
    assert "Events (last 10 of 12):" in text
    assert lines[-1].split()[:3] == ["48m", "ago", "Normal"] and "E12" in lines[-1]
    assert "each certificate has its own order" in text


def test_native_order_takes_current_and_next_from_its_star_certificate() -> None:
    order = _order({"mode": "Native", "starCertificateURL": "https://ca.example.test/star/7",
                    "certificateName": "web", "notAfter": "2030-01-01T12:10:00Z"})
    cert = {"metadata": {"name": "web", "namespace": "shop", "uid": "u2"},
            "spec": {"starCertificateURL": "https://ca.example.test/star/7"},
            "status": {"state": "Current", "serial": "5e", "notBefore": "2030-01-01T11:50:00Z",
                       "notAfter": "2030-01-01T12:10:00Z", "nextFetch": "2030-01-01T12:05:00Z",
                       "rotations": 4,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "Current"}]}}
    objs = status.Objects(kind=STARORDER, obj=order, order=order, certificate=cert,
                          template=_template("STAR", "Native"),
                          events=[_event("Rotated", "2030-01-01T11:50:00Z",
                                         kind="StarCertificate", uid="u2", count=4)])
    report = status.build(objs, NOW)
    assert report["current"]["serial"] == "5e" and report["current"]["rotations"] == 4
    assert report["next"]["at"] == "2030-01-01T12:05:00Z"
    assert report["next"]["basis"] == "star-certificate"
    text = "\n".join(status.text(report, NOW))
    assert "Native (CA: STAR)" in text and "https://ca.example.test/order/7" in text
    assert "STAR certificate URL: https://ca.example.test/star/7" in text
    assert "StarCertificate Ready" in text and "Rotated (x4)" in text
    assert "StarCertificate/web" in text


def test_final_certificate_has_no_next_and_a_canceled_native_one_neither() -> None:
    order = _order({"mode": "Emulated", "series": {"serial": "1", "final": True,
                                                   "runsPastEndDate": True}})
    report = status.build(status.Objects(kind=STARORDER, obj=order, order=order), NOW)
    assert report["next"]["at"] is None and "end-date" in report["next"]["note"]
    assert "runs past" in "\n".join(status.text(report, NOW))
    cert = {"metadata": {"name": "cdn", "namespace": "edge"},
            "spec": {"starCertificateURL": "https://ca.example.test/star/9"},
            "status": {"state": "Canceled", "serial": "9"}}
    report = status.build(status.Objects(kind=STARCERTIFICATE, obj=cert, certificate=cert), NOW)
    assert report["ca"]["mode"] == "Native" and "Canceled" in report["next"]["note"]
    assert report["template"] is None and report["starOrder"] is None
    text = "\n".join(status.text(report, NOW))
    assert "State:" in text and "Template" not in text


def test_pending_order_and_missing_objects_are_notes() -> None:
    order = {"metadata": {"name": "new", "namespace": "shop"},
             "spec": {"csrTemplateName": "gone", "dnsNames": ["a.example.test"]},
             "status": {"phase": "KeyStaged"}}
    objs = status.Objects(kind=STARORDER, obj=order, order=order,
                          notes=["forbidden: csrtemplates \"gone\" is forbidden"])
    report = status.build(objs, NOW)
    assert report["ca"]["mode"] is None and report["current"] is None
    text = "\n".join(status.text(report, NOW))
    assert "none yet" in text and "not scheduled yet" in text
    assert text.splitlines()[-1].startswith("Note: forbidden")
    assert "Ready:" in text and "Ready:                -" in text


def test_events_sort_by_the_latest_time_field_they_have() -> None:
    events = [{"reason": "B", "eventTime": "2030-01-01T10:00:00.123456Z"},
              {"reason": "A", "firstTimestamp": "2030-01-01T09:00:00Z"},
              {"reason": "C", "metadata": {"creationTimestamp": "2030-01-01T11:00:00Z"}}]
    shown, total = status._events(events)
    assert [e["reason"] for e in shown] == ["A", "B", "C"] and total == 3
    assert render.parse(shown[1]["time"]) == datetime.datetime(
        2030, 1, 1, 10, tzinfo=datetime.timezone.utc)
