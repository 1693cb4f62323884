from atomo.cli.main import main

main()
