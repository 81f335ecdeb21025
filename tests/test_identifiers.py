"""Key columns (branch, member, meeting ids and every reference to them) refuse values that cannot
serve as an identifier, row by row, so one hostile id never costs the rest of the batch."""

from __future__ import annotations

from pathlib import Path

from audit.ingest import MAX_KEY_LENGTH, ingest
from audit.reasons import Action, Reason
from conftest import BRANCHES, MEETINGS, MEMBERS, write_csv

HOSTILE = {
    "long": "B" * 300,
    "bell": "B\x07EL",
    "escape": "\x1b[2JB9",
    "bidi": "B\u202e10",
}


def test_unusable_ids_are_quarantined_naming_file_row_and_column(batch: Path, tmp_path: Path):
    header = BRANCHES[0][:4]
    rows = [[branch_id, f"{name}支部", "新华街道党工委", "社区"] for name, branch_id in HOSTILE.items()]
    write_csv(batch / "支部信息_补充.csv", [header, *rows, ["B03", "三支部", "新华街道党工委", "社区"]])
    write_csv(batch / "党员名册_补充.csv", [MEMBERS[0], ["M009", "赵六", "", HOSTILE["long"], "正式党员", "2001-07-01"]])
    write_csv(
        batch / "会议记录_补充.csv",
        [[*MEETINGS[0], "授课人编号"], ["HD9", "B03", "党课", "2019-03-01", "", "1", "1", "是", HOSTILE["escape"]]],
    )
    result = ingest(batch)
    for source in result.sources:
        assert source.rows_read == source.rows_accepted + source.rows_quarantined, source
    assert sorted(result.tables["branches"]["branch_id"]) == ["B01", "B02", "B03"]  # the rest is ingested
    bad = [p for p in result.problems if p.reason is Reason.BAD_KEY]
    by_place = {(p.file, p.row, p.column, p.action) for p in bad}
    assert by_place == {
        *{("支部信息_补充.csv", row, "支部编号", Action.ROW) for row in (2, 3, 4, 5)},
        ("党员名册_补充.csv", 2, "所在支部编号", Action.ROW),
        ("会议记录_补充.csv", 2, "授课人编号", Action.VALUE),  # an optional reference is blanked, the meeting kept
    }
    long = next(p for p in bad if p.file == "支部信息_补充.csv" and p.row == 2)
    assert long.message.startswith("支部编号「BBBB") and f"300 个字符，超过上限 {MAX_KEY_LENGTH}" in long.message
    assert len(long.message) < 80
    shown = {p.row: p.message for p in bad if p.file == "支部信息_补充.csv"}
    assert "B\\x07EL" in shown[3] and "\\x1b[2JB9" in shown[4] and "B\\u202e10" in shown[5]
    assert "控制字符" in shown[3]
    meeting = result.tables["meetings"].filter(result.tables["meetings"]["meeting_id"] == "HD9")
    assert meeting.height == 1 and meeting["lecturer_id"].to_list() == [None]
    out = tmp_path / "out"
    result.write(out)
    quarantine = (out / "quarantine.csv").read_text(encoding="utf-8-sig")
    assert not any(ch in quarantine for ch in "\x07\x1b\u202e") and "B" * 100 not in quarantine
