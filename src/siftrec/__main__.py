"""``python -m siftrec``: the ``siftrec`` command line, e.g. for
``torchrun --nproc-per-node N -m siftrec fit ...`` (docs/distributed.md)."""

from siftrec.cli.main import app

if __name__ == "__main__":
    app(prog_name="siftrec")
