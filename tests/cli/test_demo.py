from typer.testing import CliRunner

from siftrec.cli.main import app


def test_demo_reports_every_entry_on_small_data():
    result = CliRunner().invoke(
        app, ["demo", "--n-users", "150", "--n-items", "120"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.stderr
    for label in ("popularity", "ease", "MF + BPR", "MF + T-CE", "MF + NBPO", "MF + PLD"):
        assert label in result.stdout
    assert "noise ROC-AUC" in result.stdout
