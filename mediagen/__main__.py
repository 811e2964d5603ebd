"""`python -m mediagen`: the same command as the `mediagen` console script."""

from mediagen.main import app

if __name__ == "__main__":
    app(prog_name="mediagen")
