from mindgpt.cli import main

main()
