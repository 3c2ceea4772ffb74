"""``python -m rppgbench`` runs the command line (same as the ``rppgbench`` script)."""
from rppgbench.cli import main

if __name__ == "__main__":
    main()
