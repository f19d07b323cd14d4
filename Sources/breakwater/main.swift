print("breakwater: not built yet")
