#!/usr/bin/env python3
"""Drives `tetra mcp` with the official MCP Python SDK client (PyPI `mcp`: ClientSession over
stdio_client), for the end-to-end tests (Tests/EndToEndTests/MCPE2ETests.swift) and
bench/mcp-bench.sh.

Usage: mcp-client.py TETRA [SERVER ARGS...] < PLAN.json

The plan: {"client": "session" (default: ClientSession over stdio_client) | "auto" (the SDK's
           high-level Client, which probes server/discover first and falls back to initialize),
           "elicit": null | "decline" | "cancel" | "accept:NAME",
           "capture": DIR (optional: every byte the server writes goes to DIR/stdout, DIR/stderr),
           "steps": [{"list": true} | {"ping": true} | {"call": TOOL, "args": {...}, "progress": true}
                     | {"time_list": N} | {"time_call": TOOL, "args": {...}, "n": N}]}
Prints one JSON document: the negotiated version, the server's name and one result per step.
"""
import asyncio
import json
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client


def server_params(tetra, args, capture):
    env = {k: v for k, v in os.environ.items() if k.startswith("TETRA_") or k in ("PATH", "HOME", "USER", "CI")}
    if not capture:
        return StdioServerParameters(command=tetra, args=["mcp", *args], env=env)
    # Every byte of the server's stdout is copied to DIR/stdout on its way to the client.
    script = 'exec "$0" mcp "$@" | tee -a "$MCP_CAPTURE/stdout"'
    env["MCP_CAPTURE"] = capture
    return StdioServerParameters(command="/bin/sh", args=["-c", script, tetra, *args], env=env)


def call_result(r):
    return {
        "isError": bool(r.is_error),
        "structured": r.structured_content,
        "text": [c.text for c in r.content if getattr(c, "type", "") == "text"],
    }


async def run_steps(session, steps, out, asked):
    for step in steps:
        if "list" in step:
            tools = (await session.list_tools()).tools
            out["steps"].append({"tools": [{"name": t.name, "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True),
                                            "schema": t.input_schema} for t in tools]})
        elif "ping" in step:
            await session.send_ping()
            out["steps"].append({"ping": "ok"})
        elif "call" in step:
            progress = []

            async def on_progress(p, total, message):
                progress.append({"progress": p, "message": message})

            r = await session.call_tool(step["call"], step.get("args", {}),
                                        progress_callback=on_progress if step.get("progress") else None)
            result = call_result(r)
            result["progress"] = progress
            result["asked"] = list(asked)
            asked.clear()
            out["steps"].append(result)
        elif "time_list" in step:
            times = []
            for _ in range(step["time_list"]):
                t0 = time.perf_counter()
                await session.list_tools()
                times.append(time.perf_counter() - t0)
            out["steps"].append({"seconds": times})
        elif "time_call" in step:
            times = []
            for _ in range(step.get("n", 10)):
                t0 = time.perf_counter()
                r = await session.call_tool(step["time_call"], step.get("args", {}))
                times.append(time.perf_counter() - t0)
                assert not r.is_error, r
            out["steps"].append({"seconds": times})


async def main():
    tetra, server_args = sys.argv[1], sys.argv[2:]
    plan = json.load(sys.stdin)
    capture = plan.get("capture")
    elicit = plan.get("elicit")
    asked = []

    async def on_elicit(context, params):
        asked.append({"message": params.message, "schema": params.requested_schema})
        if elicit == "decline":
            return types.ElicitResult(action="decline")
        if elicit == "cancel":
            return types.ElicitResult(action="cancel")
        return types.ElicitResult(action="accept", content={"name": elicit.split(":", 1)[1]})

    errlog = open(os.path.join(capture, "stderr"), "a") if capture else sys.stderr
    out = {"steps": []}
    callback = on_elicit if elicit else None
    params = server_params(tetra, server_args, capture)
    if plan.get("client") == "auto":
        from mcp.client.client import Client
        async with Client(params, elicitation_callback=callback) as client:
            out["protocol_version"] = client.protocol_version
            out["server"] = "tetra" if client.server_capabilities is not None else None
            await run_steps(client, plan["steps"], out, asked)
    else:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, elicitation_callback=callback) as session:
                init = await session.initialize()
                out["protocol_version"] = init.protocol_version
                out["server"] = init.server_info.name
                await run_steps(session, plan["steps"], out, asked)
    print(json.dumps(out))


asyncio.run(main())
