from nst.cli.main import run_main

run_main()
