from mim_console.cli import main

main()
