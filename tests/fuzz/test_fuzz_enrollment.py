"""Fuzzing enrollment input: whatever is typed into the number, name and department fields
(control characters, lone surrogates from a badly encoded command line, huge lengths, SQL
injection attempts) and whatever array is handed over as a camera frame (odd shapes and
dtypes), :meth:`EnrollmentService.enroll` either enrolls the person exactly as validated or
raises one of its documented errors, and a refusal leaves nothing in the database."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from turnstile.app import AppContext
from turnstile.config import Settings
from turnstile.errors import ImageError, MultipleFacesError, NoFaceError
from turnstile.services.enrollment import (
    ConsentRequiredError,
    DuplicateFaceError,
    PoorQualityError,
)
from turnstile.storage import repositories as repo
from turnstile.storage.errors import DuplicateEmployeeNumber, ValidationError

DOCUMENTED = (ConsentRequiredError, ImageError, NoFaceError, MultipleFacesError,
              PoorQualityError, DuplicateFaceError, ValidationError, DuplicateEmployeeNumber)
"""The errors :meth:`EnrollmentService.enroll` documents."""

SQL_INJECTIONS = [
    "'; DROP TABLE employees; --",
    "1' OR '1'='1",
    "Robert'); DELETE FROM face_templates;--",
    "\" OR \"\"=\"",
    "x' UNION SELECT embedding FROM face_templates --",
    "%' AND 1=1 --",
    "E1\\'; ATTACH DATABASE '/tmp/x.db' AS x; --",
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, photo_pipeline):
    folder = tmp_path_factory.mktemp("fuzz_enroll")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TURNSTILE_HOME", str(folder / "home"))
        context = AppContext(Settings(), database_url=f"sqlite:///{folder / 'fuzz.db'}")
        context._photo_pipeline = photo_pipeline  # share the loaded models
        yield context
        context.close()


@pytest.fixture(scope="module")
def face_frame(astronaut_bgr):
    """A real face, cropped small so each enrollment is quick."""
    return np.ascontiguousarray(astronaut_bgr[0:300, 75:375])


def counts(ctx) -> tuple[int, int]:
    with ctx.db.session() as s:
        employees = repo.count_employees(s)
        templates = sum(len(repo.list_templates(s, e.id)) for e in repo.list_employees(s))
    return employees, templates


_any_char = st.characters(codec=None, exclude_categories=())  # surrogates and controls too
texts = st.one_of(
    st.text(_any_char, max_size=40),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=30),  # mostly valid
    st.sampled_from(SQL_INJECTIONS),
    st.integers(60, 5000).map(lambda n: "W" * n),  # around and far beyond the limits
    st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=5), st.text(max_size=5)),
)
_serial = iter(range(10**9))


@settings(max_examples=70)
@given(number=texts, name=texts, department=st.one_of(st.none(), texts))
@example(number="E-1", name="'; DROP TABLE employees; --", department="x' OR 1=1 --")
@example(number="'; DROP TABLE employees; --", name="Zoë", department=None)
@example(number="E\udcff", name="Bad \udcfe bytes", department=None)  # argv surrogateescape
@example(number="E 2", name="N" * 201, department=None)
@example(number=" ", name="Ann", department="\t")
def test_details_are_enrolled_as_validated_or_refused(ctx, face_frame, number, name,
                                                      department):
    # Each example gets a number of its own (a taken number is a separate, valid refusal).
    suffix = f"#{next(_serial)}"
    number = number + suffix if number.strip() else number
    before = counts(ctx)
    try:
        result = ctx.enrollment.enroll(face_frame, employee_number=number, name=name,
                                       department=department, consent=True, force=True)
    except DOCUMENTED as exc:
        assert str(exc).strip()
        assert counts(ctx) == before, "a refused enrollment left something behind"
        return
    assert counts(ctx) == (before[0] + 1, before[1] + 1)
    with ctx.db.session() as s:
        stored = repo.get_employee(s, result.employee_id)
        assert stored.employee_number == repo.validate_employee_number(number)
        assert stored.name == repo.validate_employee_name(name)
        assert (stored.department or None) == (
            None if department is None or not department.strip()
            else repo.validate_employee_name(department))
    # The tables are all still there whatever was typed.
    with ctx.db.session() as s:
        assert repo.count_employees(s) == before[0] + 1


_shapes = st.one_of(
    hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=48),
    st.sampled_from([(0, 0, 3), (1, 1, 3), (2, 70000, 3), (48, 48, 1), (48, 48, 2),
                     (48, 48, 4), (48, 48, 5), (3, 48, 48)]),
)
_dtypes = st.sampled_from([np.uint8, np.int8, np.uint16, np.int32, np.int64, np.float16,
                           np.float32, np.float64, np.bool_, np.complex64])


@settings(max_examples=80)
@given(st.data(), _shapes, _dtypes, st.booleans())
def test_odd_arrays_as_frames_give_documented_errors(ctx, data, shape, dtype, strided):
    size = int(np.prod(shape)) if shape else 1
    assume(size <= 500_000)
    if np.dtype(dtype).kind in "fc":
        elements = st.floats(allow_nan=True, allow_infinity=True, width=16)
    else:
        elements = None
    frame = data.draw(hnp.arrays(dtype, shape, elements=elements))
    if strided and frame.ndim >= 2 and frame.shape[1] > 1:
        frame = frame[:, ::2]  # not contiguous
    before = counts(ctx)
    try:
        ctx.enrollment.enroll(frame, employee_number=f"ARR{next(_serial)}", name="Array",
                              consent=True, force=True)
    except DOCUMENTED as exc:
        assert str(exc).strip()
        assert counts(ctx) == before
        return
    # A random array may well be enrolled only if it is a usable BGR picture with a face,
    # which random noise never is.
    pytest.fail(f"a {frame.dtype} array of shape {frame.shape} was enrolled")


@pytest.mark.parametrize("frame", [
    np.zeros((480, 640, 3), np.float32),
    np.zeros((480, 640), np.uint8),
    np.zeros((480, 640, 4), np.uint8),
    np.zeros((0, 640, 3), np.uint8),
    np.zeros((480, 640, 3), np.uint16),
    np.array([[1, 2], [3, 4]], dtype=object),
], ids=["float32", "gray", "bgra", "empty", "uint16", "object"])
def test_arrays_of_the_wrong_kind_say_so(ctx, frame):
    with pytest.raises((ImageError, NoFaceError)) as info:
        ctx.enrollment.enroll(frame, employee_number="ODD-1", name="Odd", consent=True)
    assert str(info.value).strip()
