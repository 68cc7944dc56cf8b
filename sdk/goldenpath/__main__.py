from goldenpath._cli import main

main()
