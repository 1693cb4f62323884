# Atomo developer commands (https://github.com/casey/just)

# run the test suite (what CI runs)
test *args:
    python3 -m pytest {{args}}

# lint and type-check
lint:
    ruff check atomo tests bench
    mypy atomo

# serve the project in the current folder (or the bundled sample)
run *args:
    atomo serve {{args}}

# run the benchmarks (numbers, not assertions)
bench:
    python3 bench/library_bench.py
    python3 bench/http_bench.py
    python3 bench/coldstart_bench.py
