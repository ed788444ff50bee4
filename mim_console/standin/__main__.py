"""``python -m mim_console.standin``: the stand-in on its own, printing its URL."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from mim_console.standin.app import StandIn
from mim_console.standin.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDER


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mim_console.standin",
        description="Local Twilio stand-in on 127.0.0.1 for tests, benchmarks and the demo.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay on every request")
    parser.add_argument("--responders", action="store_true", help="simulate people answering")
    parser.add_argument("--seed", type=int, default=7, help="seed for --responders")
    parser.add_argument(
        "--calls-per-second", type=float, default=1.0, help="call rate (0: no queue)"
    )
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--sender", default=DEFAULT_SENDER)
    return parser


async def _serve(args: argparse.Namespace) -> None:
    standin = StandIn(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        sender=args.sender,
        latency=args.latency_ms / 1000.0,
        port=args.port,
    )
    if args.responders:
        standin.responders(args.seed)
    standin.set_calls_per_second(args.calls_per_second)
    try:
        await standin.start()
    except OSError as exc:
        raise SystemExit(f"cannot listen on {standin.host}:{args.port}: {exc.strerror}") from exc
    print(standin.url, flush=True)
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await standin.stop()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
