"""``import fasciq`` must stay cheap and free of side effects."""

import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, fasciq;"
        "heavy = [m for m in ('numpy', 'scipy', 'pandas', 'matplotlib', 'dask', 'typer')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_attributes_resolve():
    import fasciq

    assert fasciq.__version__
    assert fasciq.read_recording.__name__ == "read_recording"
    assert fasciq.Grid.__name__ == "Grid"


def test_cli_grids_lists_catalogue():
    from typer.testing import CliRunner

    from fasciq.cli.app import app

    res = CliRunner().invoke(app, ["grids", "GR08MM1305", "--json"])
    assert res.exit_code == 0, res.output
    import json

    g = json.loads(res.output)
    assert (g["rows"], g["cols"], g["n_channels"]) == (13, 5, 64)
    assert g["layout"][0][0] == -1 and g["layout"][1][0] == 0
    res = CliRunner().invoke(app, ["grids", "8x8@nope"])
    assert res.exit_code == 2
    assert "ROWSxCOLS@IEDmm" in res.output
