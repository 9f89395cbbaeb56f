import datetime as dt

import pytest

from autoflow_watch.config.stencil import (
    StencilError,
    date_ranges,
    is_satisfiable,
    parse_stencil,
    ranges_as_strings,
    stencil_dates,
)

D = dt.date


def test_autoflow_vector_mixes_absolute_dates_offsets_and_pairs():
    stencil = parse_stencil([[D(2016, 1, 3), -1], -1, 0])
    assert date_ranges(stencil, D(2016, 1, 7)) == [
        (D(2016, 1, 3), D(2016, 1, 6)),
        (D(2016, 1, 6), D(2016, 1, 7)),
        (D(2016, 1, 7), D(2016, 1, 8)),
    ]


def test_offset_alone_is_a_one_day_half_open_range():
    assert date_ranges(parse_stencil([-2]), D(2026, 11, 24)) == [(D(2026, 11, 22), D(2026, 11, 23))]


def test_seven_days_ending_on_reference_date():
    dates = stencil_dates(parse_stencil([[-6, 1]]), D(2026, 11, 24))
    assert dates == {D(2026, 11, 18) + dt.timedelta(days=i) for i in range(7)}


def test_absolute_single_date_and_iso_strings_are_accepted():
    stencil = parse_stencil(["2016-01-01", [D(2016, 1, 2), "2016-01-04"]])
    assert stencil_dates(stencil, D(2020, 1, 1)) == {D(2016, 1, 1), D(2016, 1, 2), D(2016, 1, 3)}


def test_date_ranges_parameter_uses_iso_strings_end_exclusive():
    assert ranges_as_strings(date_ranges(parse_stencil([0]), D(2026, 11, 24))) == [["2026-11-24", "2026-11-25"]]


def test_range_whose_absolute_start_is_after_its_offset_end_is_unsatisfiable():
    stencil = parse_stencil([[D(2016, 1, 10), 0]])
    assert not is_satisfiable(stencil, D(2016, 1, 5))
    assert is_satisfiable(stencil, D(2016, 1, 11))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "non-empty list"),
        ("0", "non-empty list"),
        ([[1, 0]], "must be after start"),
        ([[0, 0]], "must be after start"),
        ([[1, 2, 3]], "[start, end] pair"),
        ([True], "integer offset or a date"),
        (["yesterday"], "integer offset or a date"),
        ([[D(2016, 1, 5), D(2016, 1, 1)]], "must be after start"),
    ],
)
def test_invalid_stencils_are_refused_with_the_reason(raw, message):
    with pytest.raises(StencilError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_stencil(raw)


def test_every_bad_element_of_a_stencil_is_named_at_once():
    with pytest.raises(StencilError) as caught:
        parse_stencil([0, "soon", [3, 1], -1])
    assert str(caught.value) == (
        "element 1: expected an integer offset or a date, got 'soon'; "
        "element 2: range end 1 must be after start 3 (end is exclusive)"
    )
