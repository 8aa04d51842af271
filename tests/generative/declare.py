"""A generated API's declaration, as a user would write it: ``sources/<name>.yaml``."""

from __future__ import annotations

from typing import Any

import yaml

from tests.generative.api import POST_BODY, Api, AuthPlan, StreamPlan

# The record path a broken stream declares: valid, but nothing is there in any response.
BROKEN_PATH = "nowhere.to_be_found"


def base_url(api: Api, port: int) -> str:
    return f"http://127.0.0.1:{port}/{api.name}"


def _auth(api: Api, plan: AuthPlan, port: int) -> dict[str, Any]:
    # A secret is always ${VAR}; the local default keeps the stack's environment untouched.
    secret = f"${{GEN_{api.name.upper()}_SECRET:-{plan.secret}}}"
    if plan.kind == "none":
        return {"kind": "none"}
    out: dict[str, Any] = {"kind": plan.kind, **plan.options, "secret": secret}
    if plan.kind in ("oauth2_client_credentials", "oauth2_refresh_token"):
        out["token_url"] = f"{base_url(api, port)}/oauth/token"
    if plan.kind == "oauth2_refresh_token":
        first = plan.options["refresh_token"]
        out["refresh_token"] = f"${{GEN_{api.name.upper()}_REFRESH:-{first}}}"
    elif plan.kind == "session":
        o = plan.options
        out = {"kind": "session", "login": {
            "url": f"{base_url(api, port)}/login", "token_path": o["token_path"],
            "expires_in_path": "expires_in", "body": {"user": o["user"], "password": secret}}}
        if o["cookie"]:
            out["cookie"] = o["cookie"]
    elif plan.kind == "jwt":
        out = {"kind": "jwt", **{k: v for k, v in plan.options.items()}, "key": secret}
    return out


def _stream(api: Api, s: StreamPlan, port: int) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for k in s.key_cols:
        columns[k.column] = {"type": k.type, "required": True} | (
            {"from": k.wire} if k.wire and k.wire != k.column else {})
    columns |= {"name": {"from": s.name_path},
                "amount": {"type": "bigint", "from": s.amount_field},
                "stamp": {"type": "timestamp", "from": s.at_field, "required": True}}
    out: dict[str, Any] = {
        "name": s.name, "endpoint": s.endpoint,
        "records_path": BROKEN_PATH if s.broken else s.records_path,
        "primary_key": s.key_cols[0].column if len(s.key_cols) == 1 else
        [k.column for k in s.key_cols],
        "pagination": {k: v for k, v in s.paging.items() if v is not None or k == "limit_param"},
        "table": f"{api.name}_{s.name}", "columns": columns}
    if s.body_format == "json":
        out["error_path"] = "errors"  # a 200 holding errors failed (harmless where none come)
    else:
        out["decoder"] = {"format": s.body_format} | (
            {"compression": "gzip"} if s.export and s.export.declare_gzip else {})
    if s.listed:
        out["partitions"] = {"param": s.listed[0], "values": list(s.listed[2])}
    if s.post:
        out |= {"method": "POST", "body": POST_BODY}
    if s.export:
        e = s.export
        out |= {"method": "POST", "body": e.body, "export": {
            "job_id_path": e.job_id_path,
            # A short timeout: a job the server lost would show as a failure, not a hang.
            "poll": {"endpoint": e.poll, "status_path": e.status_path, "done": [e.done],
                     "failed": list(e.failed), "every_s": e.every_s, "timeout_s": 120},
            "download": {"url_path": e.url_path}}}
    if s.total_path:
        out["total_path"] = s.total_path
    if s.child_of:
        out["parent"] = {"stream": s.child_of.parent,
                         "params": {s.child_of.placeholder: s.child_of.parent_field}}
        if s.child_of.include:
            out["parent"]["include"] = {"parent_id": s.child_of.parent_field}
        if s.child_of.refused:
            out["response_actions"] = {404: "empty", 403: "skip"}
    if s.incremental:
        inc = s.incremental
        # The bound always said: the model's default (inclusive) must never stand in for an
        # exclusive server unnoticed.
        out["incremental"] = {"param": inc.param, "cursor_path": s.at_field,
                              "initial_value": inc.initial, "bound": inc.bound}
        if inc.format:
            out["incremental"]["format"] = inc.format
        if inc.lookback_s:
            out["incremental"]["lookback_s"] = inc.lookback_s
        if inc.send_in != "query":
            out["incremental"]["send_in"] = inc.send_in
        if inc.end_param:
            out["incremental"] |= {"end_param": inc.end_param, "end_value": inc.end_value}
    if s.auth is not None:
        out["auth"] = _auth(api, s.auth, port)
    return out


def declaration(api: Api, port: int) -> str:
    doc = {"name": api.name, "base_url": base_url(api, port), "timeout_s": api.timeout_s,
           "auth": _auth(api, api.auth, port),
           "streams": [_stream(api, s, port) for s in api.streams]}
    head = f"# Generated from seed {api.seed} (tests/generative): do not edit.\n"
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
