"""The command line: the same use cases as the window, for scripts and admins."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from turnstile import __version__
from turnstile.errors import TurnstileError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turnstile",
        description="Turnstile opens a door for enrolled employees recognised by face. "
                    "Without a command it starts the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"turnstile {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="SQLAlchemy database URL (default: turnstile.db in the user data "
                             "folder, or the settings' database_url)")
    parser.add_argument("--source", metavar="SOURCE", default=None,
                        help="the door camera: a webcam index (0), a video file or a stream URL")
    parser.add_argument("--demo", action="store_true",
                        help="use the built-in demo video instead of a camera")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND")

    ev = verbs.add_parser("eval", help="measure accuracy on a standard data set")
    ev_verbs = ev.add_subparsers(dest="eval_verb", metavar="PROTOCOL", required=True)
    lfw = ev_verbs.add_parser("lfw", help="LFW View-2 verification protocol (10-fold)")
    lfw.add_argument("data_dir", type=Path, help="folder with pairs.txt and images/")
    lfw.add_argument("--json", action="store_true", help="print one JSON object")
    lfw.add_argument("--plots", type=Path, default=Path("."),
                     help="folder for lfw_roc.png and lfw_scores.png (default: here)")
    lfw.add_argument("--limit-pairs", type=int, default=None,
                     help="use only the first N pairs of each fold half (quick runs)")
    lfw.add_argument("--no-flip", action="store_true",
                     help="embed without flip test-time augmentation")
    ident = ev_verbs.add_parser("identify", help="open-set 1:N identification (FNIR at FPIR)")
    ident.add_argument("data_dir", type=Path, help="a folder per identity, images inside")
    ident.add_argument("--json", action="store_true", help="print one JSON object")
    ident.add_argument("--plots", type=Path, default=Path("."),
                       help="folder for identify_det.png (default: here)")
    ident.add_argument("--no-flip", action="store_true",
                       help="embed without flip test-time augmentation")
    return parser


def run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    try:
        if args.verb is None:
            from turnstile.gui.main import run_app

            return run_app(args)
        if args.verb == "eval":
            return _eval(args)
    except TurnstileError as exc:
        print(f"turnstile: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("turnstile: interrupted", file=sys.stderr)
        return 130
    parser.print_help()
    return EXIT_USAGE


def _eval(args: argparse.Namespace) -> int:
    from turnstile.app import build_pipeline

    if args.eval_verb == "lfw":
        from turnstile.evaluation.lfw import evaluate_lfw

        pipeline = build_pipeline(flip_tta=not args.no_flip)
        report = evaluate_lfw(pipeline, args.data_dir, plot_dir=args.plots,
                              limit_pairs=args.limit_pairs)
        print(json.dumps(report.to_json()) if args.json else report.to_text())
        return EXIT_OK
    if args.eval_verb == "identify":
        from turnstile.evaluation.identify import evaluate_identify

        pipeline = build_pipeline(flip_tta=not args.no_flip)
        ident = evaluate_identify(pipeline, args.data_dir, plot_dir=args.plots)
        print(json.dumps(ident.to_json()) if args.json else ident.to_text())
        return EXIT_OK
    return EXIT_USAGE
