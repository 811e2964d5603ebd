"""The `mediagen` command line: operators' commands (`mediagen keys ...`) and, later, the client's.

Each group of commands is its own module with its own Typer app; `mediagen.main` mounts them.
"""
