"""CSV import and export of people: the messy-file contract, round trips, and a fuzzed parser."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.data.demo import seed_demo
from mim_console.data.directory import Directory
from mim_console.data.people_csv import export_people, import_people
from mim_console.data.store import Store
from mim_console.domain.people_csv import parse_people_csv
from mim_console.errors import StorageError, UserError
from tests.conftest import FROZEN_NOW

HEADER = "id;name;mobile;phone2;email;party;title;decision_authority;groups\n"
MESSY = (
    "\ufeff" + HEADER
    + "1001;Aino Virtanen;040 123 4567;;aino@example.org;IT Operations;Ops lead;yes;"
    "Network|Database\n"
    + "1002;Bo Berg;+358 40;;bo@example.org;IT Operations;;no;\n"
    + "\n"
    + '1003;"[bold red]Eve[/]";050 765 4321;09 123 4567;eve@example.org;Security;CISO;yes;Network\n'
    + "1001;Aino Virtanen;040 123 4567;;aino@example.org;IT Operations;Ops lead;yes;Network\n"
    + "1004;Cai Koski;+1 201 555 0123;;;Vendors;;;\n"
).encode()  # fmt: skip


@pytest.fixture
def directory(store: Store) -> Directory:
    return Directory(store, default_region="FI", clock=lambda: FROZEN_NOW)


def dump(store: Store) -> list[object]:
    return [
        store.query("SELECT * FROM person ORDER BY id"),
        store.query("SELECT * FROM party ORDER BY id"),
        store.query("SELECT * FROM party_member ORDER BY party_id, position"),
        store.query("SELECT * FROM specialist_group ORDER BY id"),
        store.query("SELECT * FROM group_member ORDER BY group_id, position"),
    ]


def test_messy_file_imports_exactly_the_good_rows(directory: Directory, store: Store) -> None:
    report = import_people(directory, MESSY)
    assert [str(r) for r in report.rejected] == [
        'line 3: phone "+358 40" is too short',
        'line 6: repeats id "1001" from line 2',
    ]
    people = {p.ext_id: p for p in directory.people()}
    assert sorted(k or "" for k in people) == ["1001", "1003", "1004"]
    assert people["1001"].mobile == "+358401234567"
    assert people["1003"].name == "[bold red]Eve[/]"
    assert people["1003"].phone2 == "+35891234567"
    assert people["1004"].mobile == "+12015550123" and people["1004"].email is None
    assert report.added == 3 and report.created_parties == ["IT Operations", "Security", "Vendors"]
    network = directory.group("Network")
    assert network.members == (people["1001"].id, people["1003"].id)  # file order
    before = dump(store)
    again = import_people(directory, MESSY)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert len(again.rejected) == 2
    assert dump(store) == before


def test_re_import_updates_by_id_then_email(directory: Directory) -> None:
    import_people(directory, "id,name,mobile,email\n7,Aino,0401234567,a@example.org\n")
    report = import_people(directory, "name,mobile,email\nAino V,0401234567,A@example.org\n")
    assert report.updated == 1
    (person,) = directory.people()
    assert (person.name, person.ext_id) == ("Aino V", "7")  # matched by email, key kept
    report = import_people(directory, "id,name,mobile\n7,Aino W,0501234567\n")
    (person,) = directory.people()
    assert (person.name, person.mobile, person.email) == (
        "Aino W",
        "+358501234567",
        "A@example.org",
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Bo,0401234567,", "has neither id nor email"),
        (",0401234567,b@example.org", "name is empty"),
        ("Bo,,b@example.org", "mobile is empty"),
        ("Bo,09 123 4567,b@example.org", "is not a mobile number"),
        ("Bo,0401234567,not-an-email", "is not an email address"),
        ("Bo,0401234567,b@example.org,extra", "has 4 fields but the header has 3"),
    ],
)
def test_each_bad_line_says_why(directory: Directory, line: str, reason: str) -> None:
    report = import_people(directory, f"name,mobile,email\n{line}\nOk,0401234567,ok@example.org\n")
    assert len(report.rejected) == 1 and report.rejected[0].line == 2
    assert reason in report.rejected[0].reason
    assert [p.name for p in directory.people()] == ["Ok"]


def test_non_utf8_and_huge_lines_are_reported_not_fatal(directory: Directory) -> None:
    data = (
        b"name,mobile,email\n"
        + b"J\xe4rvi,0401234567,j@example.org\n"
        + b"Big,"
        + b"x" * (10 * 1024 * 1024)
        + b",big@example.org\n"
        + b"Ok,0401234568,ok@example.org\n"
    )
    report = import_people(directory, data)
    reasons = {r.line: r.reason for r in report.rejected}
    assert "not UTF-8 (byte 0xE4)" in reasons[2]
    assert "10,485,7" in reasons[3] and "characters long" in reasons[3]
    assert [p.name for p in directory.people()] == ["Ok"]
    parsed = parse_people_csv(data)
    assert len(parsed.rows) + len(parsed.rejected) == parsed.data_lines == 3


def test_file_level_problems_raise_and_change_nothing(directory: Directory) -> None:
    with pytest.raises(UserError, match="no mobile column"):
        import_people(directory, "name,email\nBo,b@example.org\n")
    with pytest.raises(UserError, match="file is empty"):
        import_people(directory, b"\xef\xbb\xbf\n\n")
    assert directory.people() == []


def test_unknown_column_is_noted_and_aliases_work(directory: Directory) -> None:
    report = import_people(
        directory, "Full Name,Phone,E-mail,shoe size\nBo,0401234567,b@x.org,44\n"
    )
    assert report.added == 1
    assert report.notes == ['line 1: column "shoe size" is not known; ignored']


def test_one_transaction_a_failure_leaves_the_database_as_it_was(
    directory: Directory, store: Store
) -> None:
    import_people(directory, "id,name,mobile\n1,A,0401234567\n")
    before = dump(store)
    trigger = "CREATE TRIGGER boom BEFORE INSERT ON person WHEN NEW.name = 'C' BEGIN "
    store.db.execute(trigger + "SELECT RAISE(ABORT, 'simulated crash'); END")
    with pytest.raises(StorageError, match="simulated crash"):
        import_people(
            directory,
            "id,name,mobile,party\n1,A2,0401234567,P\n2,B,0401234568,P\n3,C,0401234569,P\n",
        )
    assert dump(store) == before


def test_demo_export_round_trips(store: Store, tmp_path: object) -> None:
    from pathlib import Path

    seed_demo(store, FROZEN_NOW)
    source = Directory(store)
    text = export_people(source)
    assert import_people(source, text).unchanged == len(source.people())
    fresh = Store(Path(str(tmp_path)) / "fresh.db")
    target = Directory(fresh)
    report = import_people(target, text)
    assert report.rejected == [] and report.added == len(source.people())
    assert export_people(target) == text
    assert [(p.name, len(p.representatives)) for p in target.parties()] == [
        (p.name, len(p.representatives)) for p in source.parties()
    ]
    fresh.close()


def test_semicolon_export_re_imports(directory: Directory) -> None:
    import_people(directory, 'id,name,mobile,notes\n1,"Smith; John",0401234567,"a\nb"\n')
    text = export_people(directory, delimiter=";")
    assert import_people(directory, text).unchanged == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(["Ann,0401234567,a@example.org", "B;+358 40;b@x.org", '"x', "\x00"]),
        ),
        max_size=12,
    ),
    st.sampled_from([",", ";"]),
)
def test_parser_accounts_for_every_line(rows: list[str], delimiter: str) -> None:
    header = delimiter.join(["name", "mobile", "email"])
    text = header + "\n" + "\n".join(r.replace("\n", " ").replace("\r", " ") for r in rows)
    try:
        parsed = parse_people_csv(text)
    except UserError:
        return
    numbers = [r.line for r in parsed.rows] + [r.line for r in parsed.rejected]
    assert len(numbers) == len(set(numbers)) == parsed.data_lines  # never both, never twice
    assert all(2 <= n <= len(rows) + 1 for n in numbers)
    if '"' not in text:  # without quotes one line is one record: each must be accounted for
        cleaned = [r.replace("\n", " ").replace("\r", " ") for r in rows]
        wanted = {
            i for i, r in enumerate(cleaned, start=2) if any(c.strip() for c in r.split(delimiter))
        }
        assert set(numbers) == wanted


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_parser_never_crashes_on_bytes(data: bytes) -> None:
    try:
        parsed = parse_people_csv(b"name,mobile,email\n" + data)
    except UserError:
        return
    assert len(parsed.rows) + len(parsed.rejected) == parsed.data_lines


def test_unclosed_quote_names_every_line_it_swallowed(directory: Directory) -> None:
    data = (
        'name,mobile,email\r\nA,0401234567,a@x.org\r\nB,"0401234568,b@x.org\r\n'
        "C,0401234569,c@x.org\r\n"
    )
    report = import_people(directory, data)
    assert [str(r) for r in report.rejected] == [
        "line 3: lines 3-4 were read as one row because a quote opened on line 3 is not closed;"
        " none of them was imported"
    ]
    assert [p.name for p in directory.people()] == ["A"]


def test_tab_delimiter_and_multiline_quoted_name(directory: Directory) -> None:
    report = import_people(directory, 'name\tmobile\temail\n"Ann\nSmith"\t0401234567\ta@x.org\n')
    assert report.added == 1 and directory.people()[0].name == "Ann\nSmith"


def test_control_characters_are_refused_in_email(directory: Directory) -> None:
    report = import_people(directory, "name,mobile,email\nA,0401234567,a@x.org\x00\n")
    assert "is not an email address" in report.rejected[0].reason


def test_readme_example_imports_cleanly(directory: Directory) -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```csv\n(.*?)```", readme, re.S)
    assert match is not None
    report = import_people(directory, match.group(1))
    assert report.rejected == [] and report.added == 3
    assert [directory.person(i).name for i in directory.party("IT Operations").representatives] == [
        "Aino Virtanen",
        "Mikko Laine",
    ]


def test_seats_and_call_positions_follow_the_file(directory: Directory) -> None:
    head = "id,name,mobile,party,seat,groups\n"
    import_people(
        directory,
        head + "1,A,0401234561,P,1,Net\n" + "2,B,0401234562,P,2,Net\n" + "3,C,0401234563,P,,Net\n",
    )
    names = {p.id: p.name for p in directory.people()}
    assert [names[i] for i in directory.party("P").representatives] == ["A", "B"]
    assert [names[i] for i in directory.group("Net").members] == ["A", "B", "C"]
    # Swap the seat, move C to the front of the call order, take B out of the group.
    import_people(
        directory,
        head + "1,A,0401234561,P,2,Net\n" + "2,B,0401234562,P,1,\n" + "3,C,0401234563,P,,Net:1\n",
    )
    assert [names[i] for i in directory.party("P").representatives] == ["B", "A"]
    assert [names[i] for i in directory.group("Net").members] == ["C", "A"]
    # Rows without a groups column leave memberships alone.
    import_people(directory, "id,name,mobile\n1,A,0401234561\n")
    assert [names[i] for i in directory.group("Net").members] == ["C", "A"]


def test_seat_without_party_is_rejected(directory: Directory) -> None:
    report = import_people(directory, "id,name,mobile,party,seat\n1,A,0401234561,,1\n")
    assert [str(r) for r in report.rejected] == ["line 2: seat is given but party is empty"]


_NAME = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() != "" and s == s.strip())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_NAME, st.integers(0, 99), st.booleans(), st.booleans(), st.text(max_size=20)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([",", ";"]),
)
def test_export_import_round_trip_for_any_names(
    people: list[tuple[str, int, bool, bool, str]], delimiter: str
) -> None:
    """Names with quotes, delimiters, markup, newlines or control bytes survive the round trip."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        source_store, target_store = Store(Path(tmp) / "a.db"), Store(Path(tmp) / "b.db")
        source = Directory(source_store)
        for i, (name, number, authority, active, notes) in enumerate(people):
            source.add_person(
                name,
                f"+1201555{number:04d}",
                ext_id=f"E{i}",
                decision_authority=authority,
                active=active,
                notes=notes.strip(),
            )
        text = export_people(source, delimiter=delimiter)
        target = Directory(target_store)
        report = import_people(target, text)
        assert report.rejected == []
        fields = lambda p: (p.ext_id, p.name, p.mobile, p.decision_authority, p.active, p.notes)  # noqa: E731
        assert sorted(map(fields, target.people()), key=str) == sorted(
            map(fields, source.people()), key=str
        )
        assert import_people(target, text).unchanged == len(people)
        source_store.close()
        target_store.close()
