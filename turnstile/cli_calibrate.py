"""``turnstile calibrate``: accept/reject thresholds for a target false-accept rate per
stranger visit, given the number of people enrolled now.

    turnstile calibrate [--target-fpir 1e-3] [--from lfw|site] [--lfw DIR] [--apply] [--json]
    turnstile calibrate --reset

Without ``--apply`` nothing is changed. With it, the thresholds are stored in the database
for the face model in use (every station sharing the database uses them unless its own
settings override them); ``--reset`` removes them again (the shipped defaults apply).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnstile.app import AppContext
    from turnstile.services.calibration import Proposal, ScoreModel

log = logging.getLogger(__name__)

DEFAULT_TARGET_FPIR = 1e-3
GROWTH_FACTOR = 10


def add_parsers(verbs: Any, groups: dict[str, Any], common: list[argparse.ArgumentParser]
                ) -> None:
    """Add ``calibrate`` to the top-level commands."""
    cal = verbs.add_parser(
        "calibrate", parents=common,
        help="set the accept/reject thresholds for a target false-accept rate",
        description="Propose the accept and reject thresholds that give at most the target "
                    "false-accept rate per stranger visit with the people enrolled now, and "
                    "show the false-reject rate to expect. --apply stores them.")
    cal.add_argument("--target-fpir", type=float, default=DEFAULT_TARGET_FPIR, metavar="RATE",
                     help="false accepts per stranger visit to allow, e.g. 1e-3 = one "
                          "stranger in 1,000 taken for someone (default 1e-3)")
    cal.add_argument("--from", dest="source", choices=("lfw", "site"), default="lfw",
                     help="lfw: the shipped score model measured on LFW (default); site: "
                          "that model adjusted to this site's access log (needs 200 "
                          "recognised and 200 unknown faces in the last 90 days)")
    cal.add_argument("--lfw", type=Path, default=None, metavar="DIR",
                     help="measure the score model on LFW in DIR (its images/ folder) with "
                          "the face model that decides (the confirming one), instead of the "
                          "shipped one (about 4 minutes)")
    cal.add_argument("--apply", action="store_true",
                     help="store the thresholds for the face model that decides")
    cal.add_argument("--reset", action="store_true",
                     help="remove stored thresholds: the shipped defaults apply again")
    cal.add_argument("--json", action="store_true", help="print one JSON object")


def _pct(rate: float) -> str:
    if rate >= 0.01:
        return f"{rate * 100:.1f} %"
    if rate <= 0:
        return "0"
    return f"1 in {1 / rate:,.0f}"


def _text(p: Proposal, model: ScoreModel) -> str:
    lines = [
        f"People enrolled (active): {p.gallery_size:,}",
        f"Target: at most {_pct(p.target_fpir)} stranger visits taken for someone "
        f"(FPIR {p.target_fpir:g})",
        f"Based on: {'this site' if p.source == 'site' else 'LFW'} "
        f"({model.genuine_pairs:,} same-person pairs, {model.impostor_pairs:,} "
        f"different-person pairs, model {model.model_id})",
        "",
        f"  accept threshold  {p.accept:.4f}",
        f"  reject threshold  {p.reject:.4f}   (between the two: \"step closer\")",
        f"  expected FPIR     {p.at_size.fpir:.2e}   false accepts per stranger visit (at "
        "most: the door's search shortlists a few candidates, and the model that decides "
        "compares the face with those people only)",
        f"  expected FNIR     {p.at_size.fnir * 100:.1f} %     enrolled people not "
        "recognised per look",
        "",
        f"With {GROWTH_FACTOR}x the people ({max(p.gallery_size, 1) * GROWTH_FACTOR:,}) at "
        "the same "
        f"thresholds: FPIR {p.at_10x.fpir:.2e}, FNIR {p.at_10x.fnir * 100:.1f} %. False "
        "accepts grow with the number of people: run calibrate again after big enrolments.",
        f"1:1 mode (number, badge or PIN first) at the same target: threshold "
        f"{p.verify_threshold:.4f}, false rejects {p.verify_frr * 100:.1f} % per look.",
    ]
    return "\n".join(lines)


def calibrate(args: argparse.Namespace, ctx: AppContext) -> int:
    """Handle ``turnstile calibrate``."""
    from turnstile.cli import EXIT_OK, CommandError, _print_json, _say
    from turnstile.resources import confirm_model_id
    from turnstile.services import calibration as cal

    # The thresholds that decide are the confirming model's (the door's cascade); the search
    # model's score model gives the cascade's first-stage misses.
    model_id = confirm_model_id()
    if args.reset:
        removed = cal.reset_thresholds(ctx.db, model_id)
        _say(f"Removed the stored {' and '.join(removed)} threshold(s); the shipped defaults "
             "apply." if removed else "No thresholds were stored; the shipped defaults apply.")
        return EXIT_OK
    try:
        if args.lfw is not None:
            from turnstile.app import build_pipeline

            model = cal.measure_score_model(build_pipeline("door"), args.lfw, confirm=True)
        else:
            model = cal.load_score_model(model_id)
        search = cal.load_score_model()
        size = cal.gallery_size(ctx.db)
        if args.source == "site":
            evidence = cal.site_evidence(ctx.db, model_id)
            model, g_shift, i_shift = cal.site_score_model(model, evidence, size)
            _say(f"Site log: {len(evidence.genuine)} recognised and {len(evidence.strangers)} "
                 f"unknown faces; scores shifted {g_shift:+.4f} (same person) and "
                 f"{i_shift:+.4f} (strangers) from LFW.")
        proposal = cal.propose_thresholds(args.target_fpir, size, model, search_model=search)
    except cal.CalibrationError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        _print_json({**proposal.to_json(), "applied": bool(args.apply)})
    else:
        print(_text(proposal, model))
    if size == 0:
        _say("Nobody is enrolled yet: the thresholds and rates are those for one person.")
    if args.apply:
        before = cal.store_thresholds(ctx.db, model_id, proposal)
        was = ", ".join(f"{k} {v:.4f}" for k, v in sorted(before.items())) or "the shipped " \
            "defaults"
        _say(f"Stored for model {model_id} (was: {was}). To undo: turnstile calibrate --reset "
             "(back to the shipped defaults).")
        settings = ctx.settings
        overridden = [name for name, value in (("accept", settings.accept_threshold),
                                               ("reject", settings.reject_threshold))
                      if value is not None and settings.thresholds_model == model_id]
        if overridden:
            _say(f"Note: this station's settings override the {' and '.join(overridden)} "
                 "threshold; tick \"Calibrated default\" on the Settings page to use the "
                 "stored values here.")
    elif not args.json:
        _say("Nothing changed. Add --apply to store these thresholds.")
    return EXIT_OK


HANDLERS = {("calibrate",): calibrate}
ROLES = {("calibrate",): "admin"}
"""Who may run each command (cli.py checks the operator's role)."""
