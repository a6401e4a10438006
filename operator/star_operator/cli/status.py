"""``kubectl star status starorder|starcertificate NAME``: one screen about a STAR series:
template, CA and path (Native / Emulated), order URL (the STAR ID), star-certificate URL, the
current certificate and when the next one comes, conditions, and the object's recent Events.

:func:`collect` reads the objects (the asked-for one must exist; the others are shown as notes
when missing or forbidden), :func:`build` turns them into the report (pure, also what
``-o json`` prints) and :func:`text` lays it out.
"""
from __future__ import annotations

import argparse
import datetime
from dataclasses import dataclass, field
from typing import Any

from star_operator import conditions, timeutil
from star_operator.constants import CertState, Mode, RenewBasis

from . import render
from .errors import OK
from .kube import Kube
from .resources import CSRTEMPLATE, STARCERTIFICATE, STARORDER, Kind, split_target

NAME = "status"
KINDS = (STARORDER, STARCERTIFICATE)
EVENTS_SHOWN = 10
NATIVE, EMULATED = Mode.NATIVE, Mode.EMULATED
#: StarCertificate states after which the CA issues nothing more.
FINAL_STATES = (CertState.CANCELED, CertState.END_DATE_REACHED, CertState.EXPIRED)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        NAME, parents=[common], help="show a StarOrder's or StarCertificate's state",
        description="Template, CA and mode, order URL (STAR ID), star-certificate URL, the "
                    "current and the next certificate, conditions and recent Events.")
    parser.add_argument("kind", metavar="KIND", help="starorder or starcertificate "
                                                     "(or KIND/NAME)")
    parser.add_argument("name", metavar="NAME", nargs="?")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, kube: Kube) -> int:
    kind, name = split_target(args.kind, args.name, KINDS)
    now = timeutil.utcnow()
    report = build(collect(kube, kind, name), now)
    print(render.dump_json(report) if args.output == "json" else "\n".join(text(report, now)))
    return OK


# ------------------------------------------------------------------------------ reading

@dataclass
class Objects:
    """What a status screen is made of; ``notes`` says what could not be read and why."""

    kind: Kind
    obj: dict[str, Any]
    order: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None
    template: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _meta(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("metadata") or {}


def _status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def _spec(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("spec") or {}


def order_mode(order: dict[str, Any] | None) -> str | None:
    """Native / Emulated as recorded; an order placed before ``mode`` existed is Native."""
    st = _status(order)
    return st.get("mode") or (NATIVE if st.get("orderURL") else None)


def collect(kube: Kube, kind: Kind, name: str) -> Objects:
    obj = kube.get(kind, name)
    ns = _meta(obj).get("namespace") or kube.namespace
    out = Objects(kind=kind, obj=obj)

    def optional(k: Kind, n: str) -> dict[str, Any] | None:
        found, why = kube.get_optional(k, n, ns)
        if why:
            out.notes.append(why)
        return found

    if kind is STARORDER:
        out.order = obj
        if order_mode(obj) == NATIVE and _status(obj).get("starCertificateURL"):
            out.certificate = optional(STARCERTIFICATE,
                                       _status(obj).get("certificateName") or name)
    else:
        out.certificate = obj
        owner = next((ref for ref in _meta(obj).get("ownerReferences") or ()
                      if ref.get("kind") == STARORDER.kind), None)
        if owner:
            out.order = optional(STARORDER, owner["name"])
    template = _spec(out.order).get("csrTemplateName")
    if template:
        out.template = optional(CSRTEMPLATE, template)
    related = [(kind, obj)]
    other = out.certificate if kind is STARORDER else out.order
    if other is not None:
        related.append((STARCERTIFICATE if kind is STARORDER else STARORDER, other))
    for k, o in related:
        try:
            out.events += kube.events(k, str(_meta(o).get("name")), ns, _meta(o).get("uid"))
        except Exception as exc:  # noqa: BLE001 -- CliError: events are optional here
            out.notes.append(f"events: {getattr(exc, 'message', exc)}")
            break
    return out


# ------------------------------------------------------------------------------ the report

def ready_condition(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The object's Ready condition (None: it has none)."""
    found = conditions.get_condition(_status(obj).get("conditions"), conditions.READY)
    return None if found is None else dict(found)


def _left(not_after: Any, now: datetime.datetime) -> int | None:
    when = render.parse(not_after)
    return None if when is None else int((when - now).total_seconds())


def event_time(event: dict[str, Any]) -> str | None:
    return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or _meta(event).get("creationTimestamp"))


def _events(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    def key(e: dict[str, Any]) -> datetime.datetime:
        return render.parse(event_time(e)) or datetime.datetime.min.replace(
            tzinfo=datetime.timezone.utc)
    ordered = sorted(events, key=key)
    return [{"time": timeutil.format_time(render.parse(event_time(e))),
             "type": e.get("type"), "reason": e.get("reason"),
             "object": f"{(e.get('involvedObject') or {}).get('kind', '')}/"
                       f"{(e.get('involvedObject') or {}).get('name', '')}",
             "count": e.get("count") or 1, "message": e.get("message") or ""}
            for e in ordered[-EVENTS_SHOWN:]], len(ordered)


def _current_and_next(objs: Objects, mode: str | None, now: datetime.datetime
                      ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    order_st, cert_st = _status(objs.order), _status(objs.certificate)
    if mode == EMULATED:
        series = order_st.get("series") or {}
        current = None
        if series.get("serial"):
            current = {"serial": series["serial"], "notBefore": series.get("notBefore"),
                       "notAfter": series.get("notAfter"),
                       "secondsLeft": _left(series.get("notAfter"), now),
                       "certificates": series.get("certificates"),
                       "source": "StarOrder status.series"}
        if series.get("final"):
            nxt = {"at": None, "basis": None,
                   "note": "none: the series ends at the end-date (this is the last one)"
                           + ("; it runs past the end-date" if series.get("runsPastEndDate")
                              else "")}
        elif series.get("renewAt") or series.get("retryAt"):
            nxt = {"at": series.get("renewAt"), "basis": series.get("renewBasis"),
                   "window": series.get("window"), "retryAt": series.get("retryAt"),
                   "failures": series.get("failures"), "lastError": series.get("lastError"),
                   "note": "ordered by the operator (emulated series)"}
        else:
            nxt = None
        return current, nxt
    current = None
    if cert_st.get("serial"):
        current = {"serial": cert_st["serial"], "notBefore": cert_st.get("notBefore"),
                   "notAfter": cert_st.get("notAfter"),
                   "secondsLeft": _left(cert_st.get("notAfter"), now),
                   "rotations": cert_st.get("rotations"), "source": "StarCertificate status"}
    elif order_st.get("notAfter"):
        current = {"serial": None, "notBefore": None, "notAfter": order_st["notAfter"],
                   "secondsLeft": _left(order_st["notAfter"], now),
                   "source": "StarOrder status"}
    state = cert_st.get("state")
    if state in FINAL_STATES:
        nxt = {"at": None, "basis": None,
               "note": f"none: the StarCertificate is {state} (the CA issues no more)"}
    elif cert_st.get("nextFetch"):
        nxt = {"at": cert_st["nextFetch"], "basis": "star-certificate",
               "note": "fetched from the star-certificate URL; the CA issues it (native STAR)",
               "failures": cert_st.get("failures"), "lastError": cert_st.get("lastError")}
    else:
        nxt = None
    return current, nxt


def build(objs: Objects, now: datetime.datetime) -> dict[str, Any]:
    """The status report (what ``-o json`` prints); pure."""
    meta, st = _meta(objs.obj), _status(objs.obj)
    order_st, order_spec = _status(objs.order), _spec(objs.order)
    tmpl_spec, tmpl_st = _spec(objs.template), _status(objs.template)
    caps = tmpl_st.get("capabilities") or {}
    is_order = objs.kind is STARORDER
    mode = order_mode(objs.order) if objs.order is not None else (
        NATIVE if objs.certificate is not None else None)
    current, nxt = _current_and_next(objs, mode, now)
    tmpl_ready = ready_condition(objs.template)
    events, total = _events(objs.events)
    spec = _spec(objs.obj)
    return {
        "kind": objs.kind.kind, "name": meta.get("name"), "namespace": meta.get("namespace"),
        "ready": ready_condition(objs.obj),
        "phase": st.get("phase") if is_order else st.get("state"),
        "deleting": bool(meta.get("deletionTimestamp")),
        "dnsNames": spec.get("dnsNames") or st.get("dnsNames") or [],
        "secretName": spec.get("secretName"),
        "starOrder": _meta(objs.order).get("name") if not is_order else None,
        "template": {"name": order_spec.get("csrTemplateName"),
                     "ready": tmpl_ready and tmpl_ready.get("status"),
                     "reason": tmpl_ready and tmpl_ready.get("reason"),
                     "profile": (tmpl_spec.get("acme") or {}).get("profile")}
        if objs.order is not None else None,
        "ca": {"directoryURL": (order_st.get("caAccess") or {}).get("directoryURL")
               or (tmpl_spec.get("acme") or {}).get("directoryURL"),
               "mode": mode, "offers": caps.get("mode"), "summary": caps.get("summary")},
        "orderURL": order_st.get("orderURL"),
        "starCertificateURL": order_st.get("starCertificateURL")
        or _spec(objs.certificate).get("starCertificateURL"),
        "endDate": order_st.get("endDate") or _spec(objs.certificate).get("endDate"),
        "current": current, "next": nxt,
        "conditions": st.get("conditions") or [],
        "certificateReady": (ready_condition(objs.certificate)
                             if is_order and objs.certificate else None),
        "lastError": st.get("lastError"),
        "events": events, "eventsTotal": total,
        "notes": objs.notes,
    }


# ------------------------------------------------------------------------------ text

def _cond(cond: dict[str, Any] | None) -> str | None:
    if not cond:
        return None
    out = f"{cond.get('status')} ({cond.get('reason') or 'no reason'})"
    return out + (f": {cond['message']}" if cond.get("message") else "")


def _mode_line(ca: dict[str, Any]) -> str | None:
    summary = f"CA: {ca['summary']}" if ca.get("summary") else None
    if ca.get("mode"):
        return ca["mode"] + (f" ({summary})" if summary else "")
    if ca.get("offers"):
        return f"not decided yet (at the first order; the CA offers {ca['offers']}" + (
            f", {summary})" if summary else ")")
    return None


def text(report: dict[str, Any], now: datetime.datetime) -> list[str]:
    tmpl = report["template"]
    ca = report["ca"]
    tmpl_line = None
    if tmpl and tmpl.get("name"):
        tmpl_line = tmpl["name"]
        if tmpl.get("ready"):
            tmpl_line += f" (Ready {tmpl['ready']}, {tmpl.get('reason')})"
        if tmpl.get("profile"):
            tmpl_line += f", profile {tmpl['profile']}"
    top = [("Name", report["name"]), ("Namespace", report["namespace"]),
           ("Kind", report["kind"] + (" (being deleted)" if report["deleting"] else "")),
           ("Ready", _cond(report["ready"])),
           ("Phase" if report["kind"] == STARORDER.kind else "State", report["phase"])]
    if report["starOrder"]:
        top.append(("StarOrder", report["starOrder"]))
    top += [("DNS names", ", ".join(report["dnsNames"]) or None),
            ("Secret", report["secretName"])]
    if report["kind"] == STARORDER.kind or report["starOrder"]:
        top += [("Template", tmpl_line), ("CA directory", ca.get("directoryURL"))]
    top += [("Mode", _mode_line(ca)),
            ("Order (STAR ID)", report["orderURL"]),
            ("STAR certificate URL", report["starCertificateURL"]
             or ("- (emulated series: none; each certificate has its own order)"
                 if ca.get("mode") == EMULATED else None)),
            ("End date", render.stamp(report["endDate"], now))]
    if report["lastError"]:
        top.append(("Last error", report["lastError"]))
    lines = render.fields(top)

    lines += _section("Current certificate", _current_lines(report["current"], now),
                      "none yet")
    lines += _section("Next certificate", _next_lines(report["next"], now),
                      "not scheduled yet")
    conds = list(report["conditions"])
    if report["certificateReady"]:
        conds.append({**report["certificateReady"], "type": "StarCertificate Ready"})
    lines += _section("Conditions", conds and render.table(
        ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
        [[c.get("type"), c.get("status"), c.get("reason"),
          render.until(c.get("lastTransitionTime"), now), c.get("message")] for c in conds],
        indent=2), "none")
    shown, total = report["events"], report["eventsTotal"]
    lines += _section(f"Events (last {len(shown)} of {total})" if total > len(shown)
                      else "Events", shown and render.table(
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        [[render.until(e["time"], now), e["type"],
          e["reason"] + (f" (x{e['count']})" if e["count"] > 1 else ""),
          e["object"], e["message"]] for e in shown], indent=2), "none")
    for note in report["notes"]:
        lines.append(f"Note: {note}")
    return lines


def _section(title: str, body: list[str] | None, empty: str) -> list[str]:
    return ["", f"{title}:", *(body or [f"  {empty}"])]


def _current_lines(cur: dict[str, Any] | None, now: datetime.datetime) -> list[str] | None:
    if cur is None:
        return None
    left = cur.get("secondsLeft")
    pairs = [("Serial", cur.get("serial")),
             ("Not before", render.stamp(cur.get("notBefore"), now)),
             ("Not after", render.stamp(cur.get("notAfter"), now)),
             ("Time left", None if left is None else (
                 render.duration(left) if left > 0 else "expired"))]
    if cur.get("certificates") is not None:
        pairs.append(("Series", f"certificate {cur['certificates']}"))
    if cur.get("rotations") is not None:
        pairs.append(("Rotations", cur["rotations"]))
    return render.fields(pairs, indent=2)


def _next_lines(nxt: dict[str, Any] | None, now: datetime.datetime) -> list[str] | None:
    if nxt is None:
        return None
    basis = nxt.get("basis")
    if basis == RenewBasis.ARI and nxt.get("window"):
        basis += f" (window {nxt['window'].get('start')} .. {nxt['window'].get('end')})"
    elif basis == RenewBasis.FRACTION:
        basis += " (a jittered fraction of the lifetime)"
    pairs = [("Due", render.stamp(nxt.get("at"), now)), ("Basis", basis),
             ("How", nxt.get("note")), ("Retry at", render.stamp(nxt.get("retryAt"), now)),
             ("Failures", nxt.get("failures") or None), ("Last error", nxt.get("lastError"))]
    return render.fields([p for p in pairs if p[1] is not None] or [("Due", None)], indent=2)
