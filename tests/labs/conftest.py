"""Helpers shared by the lab tests."""

import pytest


@pytest.fixture
def usage_error(capsys):
    """Call ``main(argv)``, expect an argparse usage error; return standard error.

    A usage error is ``SystemExit(2)`` with the usage line and ``error:`` on
    standard error, and no traceback.
    """
    def check(main, argv):
        capsys.readouterr()  # drop what came before
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2, f"exit status {exc.value.code}, stderr: {err}"
        assert err.startswith("usage: ") and "error: " in err, err
        assert "Traceback" not in err, err
        return err

    return check
