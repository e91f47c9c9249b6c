import pytest

from ingest.producer import CsvFormatError, ProduceResult, read_csv

HEADER = "TransactionNo,Date,ProductNo,ProductName,Price,Quantity,CustomerNo,Country\n"


def test_malformed_lines_are_reported_with_line_numbers_and_the_rest_read(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    path.write_text(
        HEADER
        + "536366,12/1/2018,85123A,Heart,2.55,6,17850,United Kingdom\n"
        + "536367,12/1/2018,BROKEN\n"
        + '536368,12/1/2018,22633,"Hand Warmer, Union Jack",1.85,6,13047,United Kingdom\n'
        + "\n"
        + "536369,12/1/2018,22632,Too,Many,Fields,1,2,3\n"
        + "C536370,12/1/2018,22633,Returned,1.85,-6,13047,France\n"
    )
    result = ProduceResult()
    rows = list(read_csv(str(path), result))
    assert [number for number, _ in rows] == [2, 4, 7]
    assert rows[1][1][3] == "Hand Warmer, Union Jack"
    assert result.lines_read == 5
    assert [number for number, _ in result.malformed] == [3, 6]
    err = capsys.readouterr().err
    assert "malformed line 3" in err and "malformed line 6" in err


def test_a_file_that_is_not_v4a_is_refused_with_the_header_it_found(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(CsvFormatError, match="expected header"):
        list(read_csv(str(path), ProduceResult()))
