"""``python -m fakestripe --port 12111``: run the fake Stripe API (test mode only)."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from .server import make_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fakestripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", help="accept only this key (default: any sk_test_ key)")
    parser.add_argument("--public-url", help="base URL browsers use to reach the checkout page")
    parser.add_argument("--webhook-url", help="register this webhook endpoint at start")
    parser.add_argument("--webhook-secret", help="its signing secret (whsec_...)")
    parser.add_argument("--no-auto-deliver", action="store_true", help="keep events until /_fake/events/<id>/resend")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fakestripe %(levelname)s %(message)s")
    app = make_app(
        api_key=args.api_key,
        public_url=args.public_url,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        auto_deliver=not args.no_auto_deliver,
    )
    print(f"fakestripe (TEST MODE) listening on http://{args.host}:{args.port}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
