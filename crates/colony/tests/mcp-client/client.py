"""Drives `colony mcp` with the official MCP Python SDK's client, over stdio.

Run by crates/colony/tests/cli/mcp.rs with COLONY_BIN (the colony binary)
and COLONY_REPO (a repository set up for runs with the fake agent). It
initializes, lists the tools, adds a plan, subscribes to a task, starts a
detached run and waits, notification by notification, for the task to be
done; then checks that bad arguments are tool errors. It prints what it saw
and exits 1 at the first thing that is not as it should be.
"""

import asyncio
import json
import os
import sys
import warnings

import mcp

# resources/subscribe is the handshake protocol's, which clients speak today.
warnings.filterwarnings("ignore", category=mcp.MCPDeprecationWarning)

PLAN = "name: py\ntasks:\n  - id: hello\n    prompt: Write hello.txt\n    fake: {write: {hello.txt: \"hi\\n\"}}\n"
TASK = "colony://tasks/hello"


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def text_of(result):
    return "".join(block.text for block in result.content if getattr(block, "text", None) is not None)


async def main():
    updates = asyncio.Queue()

    async def on_message(message):
        if isinstance(message, Exception):
            print(f"transport error: {message!r}", flush=True)
            return
        notification = getattr(message, "root", message)
        if getattr(notification, "method", None) == "notifications/resources/updated":
            await updates.put(notification.params.uri)

    server = mcp.StdioServerParameters(
        command=os.environ["COLONY_BIN"], args=["mcp"], cwd=os.environ["COLONY_REPO"], env=dict(os.environ)
    )
    async with mcp.stdio_client(server) as (read, write):
        async with mcp.ClientSession(read, write, message_handler=on_message) as session:
            info = await session.initialize()
            print(f"initialized: {info.server_info.name} {info.protocol_version}", flush=True)
            if info.server_info.name != "colony":
                fail(f"the server is {info.server_info.name}")

            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            for name in ["add_plan", "run", "status", "approve", "reject", "land", "retry"]:
                if name not in tools:
                    fail(f"no tool {name} in {sorted(tools)}")
                if tools[name].input_schema.get("type") != "object":
                    fail(f"{name}'s schema is {tools[name].input_schema}")
            print(f"tools: {len(tools)}", flush=True)

            added = await session.call_tool("add_plan", {"text": PLAN})
            if added.is_error:
                fail(f"add_plan: {text_of(added)}")
            await session.subscribe_resource(TASK)
            started = await session.call_tool("run", {})
            if started.is_error:
                fail(f"run: {text_of(started)}")

            seen = 0
            while True:
                read_task = await session.read_resource(TASK)
                task = json.loads(read_task.contents[0].text)
                if task["status"] == "done":
                    break
                if task["status"] in ("failed", "blocked", "cancelled"):
                    fail(f"hello ended {task['status']}")
                while await updates.get() != TASK:
                    pass
                seen += 1
            print(f"hello done after {seen} update(s)", flush=True)
            # Its last events came after the subscription: an update for it
            # comes even when the first read already found it done.
            if seen == 0:
                while await updates.get() != TASK:
                    pass
            print("updates: received", flush=True)

            bad = await session.call_tool("retry", {"ids": []})
            if not bad.is_error or "`ids` is empty" not in text_of(bad):
                fail(f"retry with no ids: {bad}")
            unknown = await session.call_tool("approve", {"id": "ghost"})
            if not unknown.is_error or "no task `ghost`" not in text_of(unknown):
                fail(f"approve ghost: {unknown}")
            print("bad arguments: tool errors", flush=True)

            stopped = await session.call_tool("stop", {})
            if stopped.is_error:
                fail(f"stop: {text_of(stopped)}")
            resources = [r.uri for r in (await session.list_resources()).resources]
            if TASK not in [str(uri) for uri in resources]:
                fail(f"{TASK} not in {resources}")
            print("ok", flush=True)


asyncio.run(main())
