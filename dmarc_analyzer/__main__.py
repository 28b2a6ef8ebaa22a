from dmarc_analyzer.cli import main

main()
