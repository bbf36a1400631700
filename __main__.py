from ovdemo.cli import main

main()
