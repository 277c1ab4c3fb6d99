"""Runs localstripe's aiohttp app bound to one host and port, with its state in a chosen file.

`localstripe`'s own entry point binds every interface (`::`) and keeps its state in the fixed
file /tmp/localstripe.pickle, which two stacks on one machine would share. This entry point binds
the given host only and redirects the state file. It also serves the test Stripe.js stand-in at
/bookpay-test/v3/ (see stripe_js_stand_in.py and docs/testing.md), and adds what Stripe Connect
needs (connected accounts, PaymentIntents scoped to theirs: localstripe_connect.py).

    python -m bookpay_devstack.localstripe_server --host 127.0.0.1 --port 8420 --state FILE
        [--in-memory]   (load FILE if there, never save: for long runs that never restart it)
"""

from __future__ import annotations

import argparse
import logging
import pickle
from pathlib import Path
from typing import Any


def _redirect_state(store: Any, path: Path, *, persist: bool = True) -> None:
    """Make localstripe's in-memory store load from and save to `path` (or, `persist=False`,
    never save: localstripe pickles the whole store on every change, which takes longer the
    more it holds)."""

    def dump_to_disk() -> None:
        if not persist:
            return
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    store.dump_to_disk = dump_to_disk
    if path.is_file():
        with path.open("rb") as f:
            saved = pickle.load(f)
        dict.clear(store)
        dict.update(store, saved)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--state", type=Path, required=True, help="file keeping the API's state")
    parser.add_argument(
        "--in-memory", action="store_true", help="load the state file, never save it again"
    )
    args = parser.parse_args(argv)

    from aiohttp import web
    from localstripe import errors, resources, server

    from bookpay_devstack import localstripe_connect, localstripe_fixes, stripe_js_stand_in

    _redirect_state(resources.store, args.state, persist=not args.in_memory)
    localstripe_fixes.apply(resources)
    localstripe_connect.apply(server.app, resources, errors)
    stripe_js_stand_in.install(server.app)
    # localstripe reports webhook deliveries on the aiohttp.access logger, at INFO.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    access_log = logging.getLogger("aiohttp.access")
    web.run_app(server.app, host=args.host, port=args.port, access_log=access_log, print=None)


if __name__ == "__main__":
    main()
