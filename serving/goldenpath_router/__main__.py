from goldenpath_router._pod import main

main()
