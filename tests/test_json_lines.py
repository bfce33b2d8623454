"""The JSON-lines reader streams its file (a pool of a million lines is never held as
bytes) and reads every line as the whole-file reader it replaced did: the same items,
line numbers and messages (the expected values below are that reader's output, with the
column a JSON error is at: "Unterminated string starting at" said nothing more)."""

from pathlib import Path

import pytest

from elad.config import ConfigError
from elad.tasks import files
from elad.tasks.files import Malformed, json_items

BAD_LINES = (b'\xef\xbb\xbf{"question": "a?", "answer": 1}\r\n'  # a BOM, CRLF
             b'\n'
             b'{bad\n'
             b'\xff\xfe{}\r'  # not UTF-8, ended by a lone carriage return
             b'"just a string"\n'
             b'   \n'
             b'\xef\xbb\xbf{"q": 1}\n'  # a BOM past the first line is not skipped
             b'{"question": "caf\xc3\xa9?", "answer": "x"}\n'
             b'{"question": "cut off')  # no newline at the end

EXPECTED = [
    (1, {"question": "a?", "answer": 1}),
    (3, "not valid JSON (Expecting property name enclosed in double quotes, column 2)"),
    (4, "not UTF-8 text (byte 0xff at column 1)"),
    (5, "just a string"),
    (7, "not valid JSON (Unexpected UTF-8 BOM (decode using utf-8-sig), column 1)"),
    (8, {"question": "café?", "answer": "x"}),
    (9, "not valid JSON (Unterminated string starting at column 14)"),
]


def read(path: Path) -> list[tuple[int, object]]:
    """(line, item), a Malformed item as its message."""
    return [(line, str(item) if isinstance(item, Malformed) else item)
            for line, item in json_items(path)]


@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_the_streamed_reader_reads_bad_lines_as_before(tmp_path, monkeypatch, chunk):
    path = tmp_path / "pool.jsonl"
    path.write_bytes(BAD_LINES)
    monkeypatch.setattr(files, "CHUNK", chunk)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read whole"))
    assert read(path) == EXPECTED


@pytest.mark.parametrize("chunk", [1, 4, 1 << 20])
def test_a_nul_byte_anywhere_stops_before_any_line_is_read(tmp_path, monkeypatch, chunk):
    """Found by the first pass, wherever the chunks end: the error names its line,
    not the malformed line before it."""
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b'{"a": 1}\n{bad\n\n {"b": 2} \x00\n{"c": 3}\n')
    monkeypatch.setattr(files, "CHUNK", chunk)
    items = json_items(path)
    with pytest.raises(ConfigError, match=r"pool.jsonl:4: a NUL byte: this is a binary "
                       r"file \(or UTF-16 text\), not UTF-8 JSON lines$"):
        next(items)


def test_a_json_array_behind_a_bom_and_blank_lines_is_still_an_array(tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "pool.json"
    path.write_bytes(b'\xef\xbb\xbf \n\n[{"question": "a?"},\n {"question": "b?"}]')
    monkeypatch.setattr(files, "CHUNK", 1)
    assert read(path) == [(3, {"question": "a?"}), (4, {"question": "b?"})]
