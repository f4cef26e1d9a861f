from nst.cli import run_main

run_main()
