print("node: not built yet")
