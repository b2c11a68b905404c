"""Synapse tables: reading CSV/npz/npy, normalisation within dendrite and session, the
percentile filter, and one clear message per bad input (brainlike.data.synapses)."""

import numpy as np
import pytest

from brainlike.data.recordings import RecordingError
from brainlike.data.synapses import (
    make_synapse_table,
    normalise_sizes,
    percentile_filter,
    read_synapses,
    select_cell_types,
    write_synapses_csv,
)

CSV = """synapse_id,cell_type,dendrite,animal,day0,day4,day8
a,PV,d1,m1,1,2,
b,PV,d1,m1,2,NaN,4
c,Pyr,d2,m1,3,3,3
d,Pyr,d2,m1,0,0,0
e,Pyr,d2,m1,4,0,5
"""


def _write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_labels_session_times_and_absent_synapses(tmp_path):
    t = read_synapses(_write(tmp_path, CSV))
    # d is absent in every session: dropped and counted; empty and NaN are absent = 0
    assert t.synapse_id.tolist() == ["a", "b", "c", "e"]
    assert t.n_never_present == 1
    np.testing.assert_array_equal(t.sizes, [[1, 2, 0], [2, 0, 4], [3, 3, 3], [4, 0, 5]])
    np.testing.assert_array_equal(t.session_times, [0, 4, 8])
    assert t.cell_type.tolist() == ["PV", "PV", "Pyr", "Pyr"]
    assert t.cell_types == ["PV", "Pyr"]
    assert t.dendrite.tolist() == ["d1", "d1", "d2", "d2"]
    assert select_cell_types(t, ["Pyr"]).synapse_id.tolist() == ["c", "e"]


def test_npz_npy_with_metadata_and_csv_round_trip_agree(tmp_path):
    t = read_synapses(_write(tmp_path, CSV))
    np.savez(
        tmp_path / "t.npz",
        sizes=t.sizes,
        session_times=t.session_times,
        cell_type=t.cell_type,
        dendrite=t.dendrite,
        synapse_id=t.synapse_id,
    )
    z = read_synapses(tmp_path / "t.npz")
    np.testing.assert_array_equal(z.sizes, t.sizes)
    assert z.cell_type.tolist() == t.cell_type.tolist()
    np.save(tmp_path / "t.npy", np.where(t.sizes == 0, np.nan, t.sizes))
    meta = _write(tmp_path, "cell_type,dendrite\nPV,d1\nPV,d1\nPyr,d2\nPyr,d2\n", "meta.csv")
    y = read_synapses(tmp_path / "t.npy", metadata=meta, session_times=[0, 4, 8])
    np.testing.assert_array_equal(y.sizes, t.sizes)
    assert y.dendrite.tolist() == t.dendrite.tolist()
    np.testing.assert_array_equal(y.session_times, [0, 4, 8])
    dated = read_synapses(_write(tmp_path, "2021-03-04,2021-03-08,2021-03-12\n1,2,3\n", "d.csv"))
    np.testing.assert_array_equal(dated.session_times, [0, 1, 2])  # dates: column order
    back = read_synapses(write_synapses_csv(t, tmp_path / "back.csv"))
    np.testing.assert_array_equal(back.sizes, t.sizes)
    np.testing.assert_array_equal(back.session_times, t.session_times)


def test_normalisation_by_hand():
    # dendrite (m1, d1): session 0 sizes 1..5: p40 = 2.6, p60 = 3.4 -> reference mean{3} = 3;
    # session 1 sizes 2, 4, 6, 8, 10, 12 (6 synapses, one absent in session 0):
    # p40 = 6, p60 = 8 -> reference mean{6, 8} = 7.
    # dendrite (m2, d1) (same dendrite name, other animal: its own group): 10, 20, 30 ->
    # p40 = 18, p60 = 22 -> reference 20 in every session.
    s0 = [1, 2, 3, 4, 5, 0, 10, 20, 30]
    s1 = [2, 4, 6, 8, 10, 12, 10, 20, 30]
    s2 = [3, 3, 3, 3, 3, 3, 10, 20, 30]
    t = make_synapse_table(
        np.array([s0, s1, s2]).T,
        dendrite="d1",
        animal=["m1"] * 6 + ["m2"] * 3,
    )
    n = normalise_sizes(t)
    np.testing.assert_allclose(n.sizes[:6, 0], [1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 0])
    np.testing.assert_allclose(n.sizes[:6, 1], np.array([2, 4, 6, 8, 10, 12]) / 7)
    np.testing.assert_allclose(n.sizes[:6, 2], 1.0)
    np.testing.assert_allclose(n.sizes[6:], np.array([[0.5, 1, 1.5]] * 3).T)
    assert n.normalisation["band"] == [40.0, 60.0]
    assert n.normalisation["n_dendrites"] == 2
    assert n.normalisation["fewest_synapses_per_reference"] == 3
    # another band: 0-100 = the mean of every present size
    m = normalise_sizes(t, band=(0, 100))
    np.testing.assert_allclose(m.sizes[:5, 0], np.array([1, 2, 3, 4, 5]) / 3)
    with pytest.raises(ValueError, match="already normalised"):
        normalise_sizes(n)
    with pytest.raises(ValueError, match="0 <= low < high <= 100"):
        normalise_sizes(t, band=(60, 40))


def test_percentile_filter_keeps_persistent_middle_synapses():
    # first-session sizes 1..8 (p25 = 2.75, p75 = 6.25 -> 3, 4, 5, 6); synapse with size 4 is
    # absent later, so it is not persistent
    sizes = np.array([[1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 0, 1, 1, 1, 1], [1] * 8]).T
    t = make_synapse_table(sizes.astype(float))
    np.testing.assert_array_equal(
        percentile_filter(t), [False, False, True, False, True, True, False, False]
    )


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "cell_type,day0,day1,day2\nPV,1,2,3\nPV,1,2\n",
            "t.csv row 3 has 3 fields but the header has 4; every synapse needs one value per "
            "column (leave a cell empty or write NaN when the synapse is absent)",
        ),
        (
            "cell_type,day0,day1,day2\nPV,1,2,big\n",
            "t.csv row 2, column 'day2': 'big' is not a number; sizes must be numbers (empty, "
            "NaN or 0 = absent), and label columns must be named synapse_id, cell_type, "
            "dendrite, animal",
        ),
        (
            "synapse_id,day0,day1,day2\ns1,1,2,3\ns2,1,-0.5,3\n",
            "has 1 negative size (first: synapse 's2', session 'day1': -0.5); sizes are amounts "
            "(fluorescence, volume) >= 0: write 0 or NaN for an absent synapse and subtract no "
            "background below 0",
        ),
        (
            "day0,day1\n1,2\n2,3\n3,4\n",
            "has 2 sessions; the change analyses need at least 3 sessions (two consecutive "
            "changes per synapse) (is it saved sessions x synapses? transpose it)",
        ),
        (
            "day8,day4,day0\n1,2,3\n",
            "session times must increase from session to session; got 8.0, 4.0, 0.0",
        ),
    ],
    ids=["ragged", "non-numeric", "negative", "two-sessions", "unordered"],
)
def test_bad_tables_are_refused_with_one_line(tmp_path, text, message):
    with pytest.raises(RecordingError) as err:
        read_synapses(_write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_other_bad_inputs(tmp_path):
    t = read_synapses(_write(tmp_path, CSV))
    with pytest.raises(RecordingError, match="no synapses of cell type 'SST'.*'PV', 'Pyr'"):
        select_cell_types(t, ["SST"])
    np.save(tmp_path / "x.npy", np.ones((4, 5, 2)))
    with pytest.raises(RecordingError, match=r"shape \(4, 5, 2\); expected a 2-D synapses x"):
        read_synapses(tmp_path / "x.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b", "c"]]))
    with pytest.raises(RecordingError, match="synapse sizes must be numbers"):
        read_synapses(tmp_path / "s.npy")
    np.savez(tmp_path / "k.npz", sizes=np.ones((2, 3)), celltype=np.array(["a", "b"]))
    with pytest.raises(RecordingError, match="holds unknown arrays 'celltype'"):
        read_synapses(tmp_path / "k.npz")
    with pytest.raises(RecordingError, match="no such synapse table"):
        read_synapses(tmp_path / "missing.csv")
    with pytest.raises(RecordingError, match="unknown table format '.txt'"):
        read_synapses(_write(tmp_path, "x", "t.txt"))
    with pytest.raises(
        RecordingError, match="cell_type has 3 entries but the table has 2 synapses"
    ):
        make_synapse_table(np.ones((2, 3)), cell_type=["a", "b", "c"])
