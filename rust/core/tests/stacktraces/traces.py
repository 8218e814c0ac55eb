"""Prints real Python tracebacks for tests/stacktraces.rs: one section per case, each after a
`=== name` line."""
import asyncio
import sys
import traceback


def read_port(config):
    return config["port"]


def load_config():
    try:
        return read_port({})
    except KeyError as e:
        raise RuntimeError("config broken") from e


def start():
    try:
        load_config()
    except RuntimeError:
        raise ValueError("startup failed\nsee the cause")


def recurse(depth):
    return recurse(depth + 1) if depth < 1500 else depth


async def fetch():
    await asyncio.sleep(0)
    raise ConnectionError("upstream closed")


async def handler():
    return await fetch()


def show(name, call):
    print("=== " + name)
    try:
        call()
    except BaseException:
        sys.stdout.write(traceback.format_exc())


show("chain", start)
show("deep", lambda: recurse(0))
show("async", lambda: asyncio.run(handler()))
