"""Benchmark: enrollment time per photo, from file to committed row. Figures, not pass/fail.

Enrolls every photo of ``people/`` (real photos from ``../shared/data``) into a fresh SQLite
database with :meth:`EnrollmentService.enroll` (read, detect with the photo detector, align,
embed, quality gates, duplicate search, one transaction), one new employee per photo, and
prints the median, p95 and the extremes; then the same with 100k synthetic templates already
enrolled (the duplicate search then scans them all), and the share of :meth:`check_photo`
(the face work) in the total.

    python tests/bench/bench_enrollment.py [--data ../shared/data] [--repeat 3]
                                           [--gallery 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_matching import create_synthetic_database  # noqa: E402

from turnstile.app import AppContext  # noqa: E402
from turnstile.errors import MultipleFacesError  # noqa: E402
from turnstile.resources import embedder_model_id  # noqa: E402
from turnstile.vision.imageio import read_image  # noqa: E402

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def people_photos(data: Path) -> list[Path]:
    return sorted(p for p in (data / "people").rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)


def enroll_all(url: str, photos: list[Path], repeat: int, prefix: str
               ) -> tuple[list[float], list[float], list[str]]:
    """Enroll each photo ``repeat`` times (new numbers each time, forced past the duplicate
    check, which still runs). Returns per-call seconds for enroll() and check_photo()."""
    ctx = AppContext(database_url=url)
    enroll_s: list[float] = []
    check_s: list[float] = []
    skipped: list[str] = []
    try:
        ctx.enrollment.check_photo(read_image(photos[0]))  # load models, gallery: not timed
        for r in range(repeat):
            for i, photo in enumerate(photos):
                face = None
                try:
                    ctx.enrollment.check_photo(photo)
                except MultipleFacesError:
                    face = 0  # a photo with a bystander: the operator picks the largest face
                start = time.perf_counter()
                ctx.enrollment.check_photo(photo, face_index=face)
                check_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                try:
                    ctx.enrollment.enroll(photo, employee_number=f"{prefix}{r}-{i}",
                                          name=f"Bench {i}", consent=True, force=True,
                                          face_index=face)
                except Exception as exc:  # noqa: BLE001 - report, keep measuring the others
                    if r == 0:
                        skipped.append(f"{photo.parent.name}/{photo.name}: {exc}")
                    continue
                enroll_s.append(time.perf_counter() - start)
    finally:
        ctx.close()
    return enroll_s, check_s, skipped


def report(title: str, enroll_s: list[float], check_s: list[float]) -> None:
    ms = np.asarray(enroll_s) * 1e3
    print(f"{title}: {len(ms)} enrollments")
    print(f"  enroll(): median {np.median(ms):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms, "
          f"min {ms.min():.0f} ms, max {ms.max():.0f} ms")
    print(f"  of which the face work (check_photo: read, detect, align, embed, quality, "
          f"duplicate search): median {statistics.median(check_s) * 1e3:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the photos")
    parser.add_argument("--gallery", type=int, default=100_000,
                        help="synthetic templates enrolled first for the second run (0: skip)")
    args = parser.parse_args()
    photos = people_photos(args.data)
    if not photos:
        sys.exit(f"no photos found under {args.data / 'people'}")
    megapixels = [read_image(p).shape[0] * read_image(p).shape[1] / 1e6 for p in photos]
    print(f"{len(photos)} photos from {args.data / 'people'} ({min(megapixels):.2f} to "
          f"{max(megapixels):.2f} megapixels), {args.repeat} passes")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'empty.db'}"
        enroll_s, check_s, skipped = enroll_all(url, photos, args.repeat, "E")
        report("Into an empty database", enroll_s, check_s)
        for line in skipped:
            print(f"  not enrolled: {line}")
        if args.gallery:
            url = f"sqlite:///{Path(folder) / 'big.db'}"
            created = create_synthetic_database(url, args.gallery, model_id=embedder_model_id())
            enroll_s, check_s, _ = enroll_all(url, photos, args.repeat, "G")
            report(f"With {args.gallery:,} templates enrolled (database made in {created:.0f} s)",
                   enroll_s, check_s)


if __name__ == "__main__":
    main()
