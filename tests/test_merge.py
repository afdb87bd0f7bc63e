"""Property tests of the three-way merge (app.versions.merge), DESIGN §5.

For any base and two versions made from it (`theirs`, already stored by a colleague, and
`yours`, sent late), the merge either keeps every change of both sides, or names as
conflicts exactly the single-valued fields both sides changed to different values.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.versions import merge

SCALARS = ("people_count", "gender", "note", "kind")
SETS = frozenset({"themes", "team"})
FIELDS = (*SCALARS, *sorted(SETS))

# Small alphabets: both sides often pick the same value, or the base's, or None.
scalar = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]), st.integers(1, 3))
codes = st.one_of(
    st.lists(st.sampled_from(["logement", "sante", "emploi", "droits"]), unique=True),
    st.lists(st.integers(1, 12), unique=True),  # user or organisation ids
    st.none(),
)


@st.composite
def record(draw, missing=True):
    """A snapshot over the field names; with `missing`, some fields may be absent."""
    out = {}
    for name in FIELDS:
        if missing and draw(st.booleans()) and draw(st.booleans()):
            continue  # absent a quarter of the time
        out[name] = draw(codes if name in SETS else scalar)
    return out


@st.composite
def edit_of(draw, base):
    """A version made from `base`: each field kept, or changed (sets: codes added/removed)."""
    out = dict(base)
    for name in FIELDS:
        if draw(st.booleans()):
            continue
        if name in SETS and draw(st.booleans()):
            current = set(base.get(name) or ())
            removed = set(draw(st.lists(st.sampled_from(sorted(current, key=str)), unique=True))
                          ) if current else set()
            added = set(draw(codes) or ())
            out[name] = sorted((current - removed) | added, key=str)
        else:
            out[name] = draw(codes if name in SETS else scalar)
    return out


@st.composite
def three(draw):
    base = draw(record())
    return base, draw(edit_of(base)), draw(edit_of(base))


def norm(values: dict, name: str):
    """A field's value as merge compares it: a missing field is None, a set is a set."""
    value = values.get(name)
    return set(value or ()) if name in SETS else value


def both_changed_differently(base, theirs, yours) -> list[str]:
    return [name for name in FIELDS if name not in SETS
            and norm(theirs, name) != norm(base, name)
            and norm(yours, name) != norm(base, name)
            and norm(theirs, name) != norm(yours, name)]


PROPERTY = settings(max_examples=150, deadline=None, database=None)


@PROPERTY
@given(three())
def test_merge_keeps_every_change_or_names_exactly_the_fields_both_changed(case):
    base, theirs, yours = case
    result = merge(base, theirs, yours, SETS)
    expected = both_changed_differently(base, theirs, yours)
    assert sorted(result.conflicts) == sorted(expected)
    assert len(result.conflicts) == len(set(result.conflicts))
    for name in FIELDS:
        if name in result.conflicts:
            continue
        b, t, y, got = (norm(base, name), norm(theirs, name), norm(yours, name),
                        norm(result.values, name))
        if name in SETS:
            assert (t - b) | (y - b) <= got, name          # every code added is there
            assert not ((b - t) | (b - y)) & got, name     # every code removed is gone
            assert got <= b | t | y, name                   # nothing invented
            assert b - ((b - t) | (b - y)) <= got, name    # codes nobody removed stay
            assert result.values.get(name, []) == sorted(got, key=str)
        elif t == b:
            assert got == y, name        # only yours changed (or nobody): yours
        elif y == b:
            assert got == t, name        # only theirs changed: theirs
        else:
            assert t == y and got == t, name  # both made the same change


@PROPERTY
@given(three())
def test_merge_names_in_theirs_exactly_the_colleagues_changes_it_kept(case):
    base, theirs, yours = case
    result = merge(base, theirs, yours, SETS)
    kept = [name for name in FIELDS if name not in result.conflicts
            and norm(theirs, name) != norm(base, name)
            and norm(result.values, name) != norm(yours, name)]
    assert sorted(result.theirs) == sorted(kept)
    assert not set(result.theirs) & set(result.conflicts)
    # what the sender must look at again is exactly what differs from what they sent
    differs = [name for name in FIELDS if name not in result.conflicts
               and norm(result.values, name) != norm(yours, name)]
    assert sorted(result.theirs) == sorted(differs)


@PROPERTY
@given(three())
def test_conflicts_do_not_depend_on_who_wrote_first(case):
    base, theirs, yours = case
    one, other = merge(base, theirs, yours, SETS), merge(base, yours, theirs, SETS)
    assert sorted(one.conflicts) == sorted(other.conflicts)
    for name in FIELDS:
        if name not in one.conflicts:
            assert norm(one.values, name) == norm(other.values, name), name


@PROPERTY
@given(st.data())
def test_an_edit_merged_with_an_unchanged_side_is_that_edit(data):
    base = data.draw(record())
    edit = data.draw(edit_of(base))
    for result in (merge(base, edit, base, SETS), merge(base, base, edit, SETS)):
        assert result.conflicts == []
        for name in FIELDS:
            assert norm(result.values, name) == norm(edit, name), name
    # nothing changed by the sender: the colleague's version comes back, named in theirs
    mine_unchanged = merge(base, edit, base, SETS)
    assert sorted(mine_unchanged.theirs) == sorted(
        name for name in FIELDS if norm(edit, name) != norm(base, name))
    # nothing changed by the colleague: the sender's version, nothing of theirs to show
    assert merge(base, base, edit, SETS).theirs == []


@PROPERTY
@given(st.data())
def test_the_same_edit_on_both_sides_merges_to_itself(data):
    base = data.draw(record())
    edit = data.draw(edit_of(base))
    result = merge(base, edit, edit, SETS)
    assert result.conflicts == [] and result.theirs == []
    for name in FIELDS:
        assert norm(result.values, name) == norm(edit, name), name


@PROPERTY
@given(three())
def test_merge_is_pure(case):
    base, theirs, yours = case
    copies = [{k: (list(v) if isinstance(v, list) else v) for k, v in d.items()}
              for d in case]
    merge(base, theirs, yours, SETS)
    assert [base, theirs, yours] == copies


def test_examples_from_the_issue():
    base = {"people_count": 2, "note": "n", "themes": ["logement"]}
    # B changed the count to 5; A, from an older copy, changed it to 3: a conflict.
    result = merge(base, {**base, "people_count": 5}, {**base, "people_count": 3}, SETS)
    assert result.conflicts == ["people_count"]
    # B changed the count, A the note: both kept, the count named as B's.
    result = merge(base, {**base, "people_count": 5}, {**base, "note": "m"}, SETS)
    assert result.conflicts == [] and result.theirs == ["people_count"]
    assert result.values == {"people_count": 5, "note": "m", "themes": ["logement"]}
    # themes: B added sante, A removed logement and added emploi.
    result = merge(base, {**base, "themes": ["logement", "sante"]},
                   {**base, "themes": ["emploi"]}, SETS)
    assert result.values["themes"] == ["emploi", "sante"] and result.theirs == ["themes"]
