"""Query results as the API sends them: encoded once (JSON objects or CSV lines, as the cache
keeps them), then sliced into pages; CSV cells a spreadsheet would evaluate are defused."""

import csv
import io
from datetime import datetime

from pydantic_core import to_json

from ingest.api import lookups
from ingest.api.cache import Answer, encode_rows

# A text cell starting with one of these is a formula to Excel, Sheets and LibreOffice (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell a spreadsheet will not evaluate: text starting like a formula gets a leading
    single quote (OWASP's rule); numbers, negative ones included, stay numbers. The writer then
    quotes the cell if CSV needs it."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def encode_answer(columns, rows, built, as_csv: bool) -> Answer:
    """A whole result encoded once, as the cache keeps it: each row a JSON object (as QueryOut
    renders it) followed by ',', or a CSV line; the Python rows are not kept."""
    columns = tuple(columns)
    periods = [i for i, c in enumerate(columns) if c.startswith("metric_time__")]
    if as_csv:
        head = csv_lines([columns]).encode()
        body, starts = encode_rows(_csv_rows(_row(row, periods) for row in rows))
    else:
        head = b""
        body, starts = encode_rows(
            to_json(dict(zip(columns, _row(row, periods), strict=True)), inf_nan_mode="null") + b","
            for row in rows
        )
    return Answer(columns=columns, head=head, body=body, starts=starts, built=built)


def render_page(
    answer: Answer, offset: int, limit: int, as_csv: bool, cached: bool
) -> tuple[bytes, str, dict]:
    """One page of an encoded result: a slice of its bytes (QueryOut's JSON, or CSV)."""
    if as_csv:
        content = b"".join([answer.head, answer.rows_slice(offset, limit)])
        return content, "text/csv; charset=utf-8", {"X-Total-Count": str(answer.rows)}
    total = answer.rows
    following = offset + limit
    tail = {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
        "gold_built_at": answer.built,
        "cached": cached,
    }
    content = b"".join(
        [
            b'{"columns":',
            to_json(list(answer.columns)),
            b',"rows":[',
            answer.rows_slice(offset, limit, trim=1),  # without the last row's ','
            b"],",
            to_json(tail)[1:],
        ]
    )
    return content, "application/json", {}


def render_rows(columns, rows, built, offset: int, limit: int, as_csv: bool) -> tuple[bytes, str, dict]:
    """One page of a result given as rows (as the cache serves it: `cached` true)."""
    return render_page(encode_answer(columns, rows, built, as_csv), offset, limit, as_csv, True)


def _csv_rows(rows):
    """Each row as a CSV line (bytes) ending in \n, every cell through `csv_cell` (see _csv_lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        line = out.getvalue()
        out.seek(0)
        out.truncate()
        yield (line[:-2] + "\n").encode()


def csv_lines(rows) -> str:
    """Rows as CSV lines ending in \\n, every cell through `csv_cell`. The writer's terminator is
    \\r\\n so that it quotes a cell holding a bare \\r too (it quotes only the terminator's
    characters); each line then ends in \\n as before."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    lines = []
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        lines.append(out.getvalue()[:-2])
        out.seek(0)
        out.truncate()
    return "\n".join(lines) + "\n"


def _row(values: tuple, periods: list[int]) -> tuple:
    """JSON values; a time period as the date it starts on (MetricFlow gives a timestamp)."""
    out = [lookups.jsonable(v) for v in values]
    for i in periods:
        if isinstance(values[i], datetime):
            out[i] = values[i].date().isoformat()
    return tuple(out)
