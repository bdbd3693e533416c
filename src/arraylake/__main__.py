from arraylake.cli.main import main

main()
