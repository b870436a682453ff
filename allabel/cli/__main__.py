from allabel.cli import main

main()
