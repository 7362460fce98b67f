#!/usr/bin/env python3
"""A real libzmq consumer of vLLM KV events (pyzmq + msgpack) for the simulated engine's tests.

Modes:
  sub     SUB connected to --connect, subscribed to --topic; prints "READY", then one JSON line per message:
          {"topic": str, "seq": int, "frames": n, "batch": <payload decoded by msgpack>}.
  replay  DEALER connected to --connect; sends ["", --start as 8 bytes big-endian] as vLLM's replay clients do,
          prints one JSON line per answer {"delimiter": hex, "seq": signed int, "batch": decoded or null} until the
          end marker (seq -1), then "END" and exits.

Decoded values keep their msgpack types in JSON: a float is {"$float": x}, bytes {"$bytes": hex}, an integer
beyond 2^53 {"$int": "digits"}; so the TypeScript side sees exactly what Python decoded.
"""
import argparse
import json
import sys

import msgpack
import zmq


def typed(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"$int": str(value)} if abs(value) > 2**53 else value
    if isinstance(value, float):
        return {"$float": value}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    raise TypeError(f"unexpected {type(value)}")


def say(line: str) -> None:
    print(line, flush=True)


def sub(ctx: zmq.Context, args: argparse.Namespace) -> None:
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, args.topic.encode())
    sock.connect(args.connect)
    say("READY")
    while True:
        frames = sock.recv_multipart()
        topic, seq, payload = frames[0], frames[1], frames[-1]
        say(json.dumps({
            "topic": topic.decode(),
            "seq": int.from_bytes(seq, "big"),
            "frames": len(frames),
            "batch": typed(msgpack.unpackb(payload)),
        }))


def replay(ctx: zmq.Context, args: argparse.Namespace) -> None:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.connect)
    sock.send_multipart([b"", args.start.to_bytes(8, "big")])
    while True:
        frames = sock.recv_multipart()
        delimiter, seq, payload = frames
        n = int.from_bytes(seq, "big", signed=True)
        say(json.dumps({
            "delimiter": delimiter.hex(),
            "seq": n,
            "batch": typed(msgpack.unpackb(payload)) if payload else None,
            "payload_bytes": len(payload),
        }))
        if n == -1:
            say("END")
            return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["sub", "replay"])
    parser.add_argument("--connect", required=True)
    parser.add_argument("--topic", default="")
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    ctx = zmq.Context()
    {"sub": sub, "replay": replay}[args.mode](ctx, args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
