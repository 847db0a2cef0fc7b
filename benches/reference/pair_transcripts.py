#!/usr/bin/env python3
"""Plain Python reference for the `pair_transcripts` example: same input, same pairing
rules, same Akto records (one JSON object per line on stdout).

It is the yardstick of the example's whole-process throughput (see BENCHMARKS.md): the
standard library's `json` module (its C accelerator) does the parsing and the writing; the
pairing is the Rust crate's rules written plainly:

- only `message` activities pair; a user message (role 1) opens a turn, each agent message
  (role 0) pairs with the latest user message (a greeting pairs with no request), a user
  message without a reply is a pair without a response; other roles take part in no pair;
- the record time is the request's timestamp, else the response's, else the conversation
  start (timestamps in milliseconds are divided; ones before 2000 take the start);
- the headers carry the transcript and conversation ids, channel, conversation kind, the
  user's Entra object id, the session outcome and the planner steps served.

Usage: pair_transcripts.py PAGE_FILE > records.jsonl
"""

import json
import sys
from datetime import datetime

HOST = "copilot.microsoft.com"
EARLIEST = 946684800
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def sanitize(name):
    out = []
    run = False
    for c in name:
        if c.isalpha() or c.isnumeric() or c == "-":
            out.append(c.lower())
            run = False
        elif not run:
            out.append("-")
            run = True
    return "".join(out).strip("-")


def epoch(text):
    if text is None:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def seconds(ts):
    if isinstance(ts, bool) or ts is None:
        return None
    if isinstance(ts, (int, float)):
        n = int(ts)
        return n // 1000 if abs(n) >= 100_000_000_000 else n
    if isinstance(ts, str):
        try:
            return seconds(float(ts)) if "." in ts else seconds(int(ts))
        except ValueError:
            return epoch(ts)
    return None


def role_of(a):
    f = a.get("from")
    if not isinstance(f, dict):
        return None
    r = f.get("role")
    if r in (1, "user", "1", "User", 1.0):
        return "user"
    if r in (0, "bot", "0", "Bot", 0.0):
        return "bot"
    return None


def payload(a):
    if a is None:
        return "{}"
    p = {"message": a.get("text") or ""}
    att = a.get("attachments")
    if att:
        p["attachments"] = att
    v = a.get("value")
    if v not in (None, [], {}):
        p["value"] = v
    return dumps(p)


def headers(entries):
    return dumps({k: v for k, v in entries if v is not None})


def records(row):
    content = json.loads(row["content"])
    acts = [a for a in content["activities"] if isinstance(a, dict)]
    meta = {}
    try:
        meta = json.loads(row.get("metadata") or "{}")
    except ValueError:
        pass
    tid = row["conversationtranscriptid"]
    name = row.get("name") or ""
    conversation = name.rsplit("_", 1)[0] if "_" in name else None
    start = epoch(row.get("conversationstarttime")) or epoch(row.get("createdon")) or 0

    channel = first_channel = aad = outcome = None
    design = any_trigger = False
    pairs = []
    open_q = None  # [activity, answered]
    steps = []  # (served user index, kind:id)
    last_user = None
    for i, a in enumerate(acts):
        kind = a.get("type")
        if first_channel is None:
            first_channel = a.get("channelId")
        role = role_of(a)
        if role == "user" and aad is None:
            aad = (a.get("from") or {}).get("aadObjectId") or None
        if kind == "message":
            if channel is None:
                channel = a.get("channelId")
            if role == "user":
                cd = a.get("channelData")
                if (isinstance(cd, dict) and cd.get("triggerTest")) or a.get("channelId") == "pva-autonomous":
                    any_trigger = True
                if open_q is not None and not open_q[1]:
                    pairs.append((open_q[0], None))
                open_q = [a, False]
                last_user = a
            elif role == "bot":
                if open_q is None:
                    pairs.append((None, a))
                else:
                    pairs.append((open_q[0], a))
                    open_q[1] = True
        elif kind == "trace":
            vt = a.get("valueType")
            v = a.get("value")
            if vt == "ConversationInfo" and isinstance(v, dict) and v.get("isDesignMode"):
                design = True
            elif vt == "SessionInfo" and isinstance(v, dict):
                outcome = v.get("outcome")
        elif kind == "event" and a.get("name") == "DynamicPlanStepTriggered":
            v = a.get("value") or {}
            tool = v.get("taskDialogId") or ""
            t = "knowledge" if ".knowledge." in tool or "UniversalSearchTool" in tool else (
                "topic" if ".topic." in tool else "tool")
            steps.append((last_user, f"{t}:{tool}"))
    if open_q is not None and not open_q[1]:
        pairs.append((open_q[0], None))
    channel = channel or first_channel
    kind = ("autonomous" if channel == "pva-autonomous" or any_trigger else
            "evaluation" if channel == "pva-maker-evaluation" else
            "design" if design or channel == "pva-studio" else "chat")
    tools_of = {}
    for served, label in steps:
        for n, (q, _) in enumerate(pairs):
            if q is served:
                tools_of.setdefault(n, []).append(label)
                break

    bot = meta.get("BotName") or ""
    tag = dumps({"source": "COPILOT_STUDIO", "bot-name": sanitize(bot),
                 "bot-schemaname": bot, "bot-environment-id": ""})
    req_headers = headers([("host", HOST), ("content-type", "application/json"),
                           ("x-copilot-transcript-id", tid),
                           ("x-copilot-conversation-id", conversation),
                           ("x-copilot-channel", channel), ("x-copilot-conversation-kind", kind),
                           ("x-copilot-user-aad-object-id", aad)])
    out = []
    for n, (q, r) in enumerate(pairs):
        t = None
        for side in (q, r):
            if side is not None and t is None:
                t = seconds(side.get("timestamp"))
                if t is not None and t < EARLIEST:
                    t = start
        tools = tools_of.get(n)
        out.append({
            "path": f"/copilot/conversation/{tid}/message/{n}",
            "requestHeaders": req_headers,
            "responseHeaders": headers([("content-type", "application/json"),
                                        ("x-copilot-session-outcome", outcome),
                                        ("x-copilot-tools", ",".join(tools) if tools else None)]),
            "method": "POST",
            "requestPayload": payload(q),
            "responsePayload": payload(r),
            "ip": "",
            "time": str(t if t is not None else start),
            "statusCode": "200",
            "type": "HTTP/1.1",
            "status": "OK",
            "akto_account_id": "1000000",
            "akto_vxlan_id": "0",
            "is_pending": "false",
            "source": "MIRRORING",
            "tag": tag,
        })
    return out


def main():
    with open(sys.argv[1], "rb") as f:
        page = json.load(f)
    rows = page["value"] if isinstance(page, dict) else page
    write = sys.stdout.write
    for row in rows:
        try:
            for rec in records(row):
                write(dumps(rec))
                write("\n")
        except (KeyError, TypeError, ValueError) as e:
            print(f"row {row.get('conversationtranscriptid')}: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
